//! Access control end to end: tokens made with `relance token`, a real
//! server (`api::router_with` on 127.0.0.1) on a real SQLite file holding
//! the example import (clients `acme` and `iberia`), and raw HTTP/1.1.
//!
//! 401 without a live token, 403 for a role without the permission, 404 for
//! another client's case; `Idempotency-Key` replays; the per-token rate
//! limit; the audit log; the body limit.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use relance::api::audit::audit_read;
use relance::api::auth::{Caller, Role, Scope};
use relance::api::limits::Limits;
use relance::api::{AppState, router_with};
use relance::runtime::{Clock, Metrics};
use relance::store::{Store, Synchronous, sqlite_url};
use sea_orm::ConnectionTrait;
use tokio::sync::Notify;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn relance(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relance"))
        .args(args)
        .env_remove("RELANCE_DATABASE_URL")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A database holding the example import, its config file and a server on it.
struct Env {
    dir: PathBuf,
    config: String,
    store: Store,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn env(name: &str, limits: Limits) -> Env {
    let dir = support::scratch(name);
    let db = dir.join("relance.db");
    let config = dir.join("relance.yaml");
    std::fs::write(
        &config,
        format!(
            "database:\n  url: \"{}\"\nscenarios: \"{}\"\ntemplates: \"{}\"\nchannels:\n  file_dir: \"{}\"\n",
            sqlite_url(&db),
            root().join("scenarios").display(),
            root().join("templates").display(),
            dir.join("outbox").display(),
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let csv = root().join("examples/import/invoices.csv");
    let out = relance(&[
        "import",
        "invoices",
        &csv.display().to_string(),
        "--config",
        &config,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let store = Store::open(&sqlite_url(&db), Synchronous::Full)
        .await
        .unwrap();
    let app = router_with(
        AppState {
            store: store.clone(),
            metrics: Arc::new(Metrics::default()),
            notify: Arc::new(Notify::new()),
            clock: Clock::fixed(chrono::Utc::now()),
            inbound: Default::default(),
        },
        limits,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Env {
        dir,
        config,
        store,
        addr,
        server,
    }
}

/// Limits that never get in the way of a test about something else.
fn roomy() -> Limits {
    Limits {
        body_limit: 64 * 1024,
        rate_limit_per_second: 0,
        rate_limit_burst: 0,
    }
}

/// `relance token create` with these flags: (id, secret).
fn create(env: &Env, flags: &[&str]) -> (String, String) {
    let mut args = vec!["token", "create"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--config", &env.config]);
    let out = relance(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no `{name}` line in {text}"))
    };
    (field("id:"), field("token:"))
}

use support::http::Answer;

async fn exchange(addr: SocketAddr, request: Vec<u8>) -> Answer {
    support::http::send_raw(addr, request).await
}

async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    support::http::request(addr, method, path, headers, body.as_bytes()).await
}

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

async fn post_event(addr: SocketAddr, secret: &str, extra: &[(&str, &str)], body: &str) -> Answer {
    let auth = bearer(secret);
    let mut headers = vec![("Authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    call(addr, "POST", "/api/v1/events", &headers, body).await
}

async fn get(addr: SocketAddr, secret: &str, path: &str) -> Answer {
    let auth = bearer(secret);
    call(addr, "GET", path, &[("Authorization", auth.as_str())], "").await
}

async fn count(store: &Store, from_where: &str) -> i64 {
    let row = store
        .connection()
        .query_one_raw(sea_orm::Statement::from_string(
            store.backend(),
            format!("SELECT COUNT(*) FROM {from_where}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

const ACME_PAYMENT: &str =
    r#"{"type": "payment.received", "client_id": "acme", "debtor_id": "D-100", "amount": "10.00"}"#;
const IBERIA_PAYMENT: &str =
    r#"{"type": "payment.received", "client_id": "iberia", "debtor_id": "C-7", "amount": "10.00"}"#;

/// Every file of the SQLite database (main file, WAL, shared memory), read
/// by a child process: opening and closing the file in this process would
/// drop the POSIX locks its open SQLite connection holds on it.
fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("relance.db"))
        {
            let out = Command::new("cat").arg(&path).output().unwrap();
            assert!(out.status.success());
            all.extend(out.stdout);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn a_new_token_is_printed_once_and_the_database_keeps_only_its_hash() {
    let env = env("token_cli", roomy()).await;
    let (id, secret) = create(
        &env,
        &[
            "--role",
            "partner",
            "--client",
            "acme",
            "--label",
            "bank feed",
        ],
    );
    assert!(id.starts_with("tok_"), "{id}");
    assert!(secret.starts_with("rl_") && secret.len() > 40, "{secret}");

    let bytes = database_bytes(&env.dir);
    assert!(
        contains(&bytes, &relance::api::auth::token_hash(&secret)),
        "the hash is stored (so these are the right files)"
    );
    assert!(!contains(&bytes, &secret), "the secret is in the database");
    assert!(
        !contains(&bytes, &secret[3..]),
        "the secret is in the database"
    );

    let list = relance(&["token", "list", "--config", &env.config]);
    let text = stdout(&list);
    assert!(list.status.success(), "{}", stderr(&list));
    let line = text.lines().find(|l| l.contains(&id)).expect("listed");
    assert!(
        line.contains("partner") && line.contains("acme") && line.contains("bank feed"),
        "{line}"
    );
    assert!(
        line.trim_end().ends_with("bank feed") && line.contains(" - "),
        "not revoked: {line}"
    );
    assert!(
        !text.contains(&secret[3..]),
        "list shows the secret: {text}"
    );

    // The token works until it is revoked, then it is a 401.
    assert_eq!(
        post_event(env.addr, &secret, &[], ACME_PAYMENT)
            .await
            .status,
        202
    );
    let out = relance(&["token", "revoke", &id, "--config", &env.config]);
    assert!(out.status.success(), "{}", stderr(&out));
    let refused = post_event(env.addr, &secret, &[], ACME_PAYMENT).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused.is_problem("unauthorized"), "{}", refused.body);
    let list = stdout(&relance(&["token", "list", "--config", &env.config]));
    let line = list.lines().find(|l| l.contains(&id)).unwrap();
    assert!(!line.contains(" - "), "revocation time shown: {line}");
    let again = relance(&["token", "revoke", &id, "--config", &env.config]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));

    let bad = relance(&[
        "token",
        "create",
        "--role",
        "root",
        "--all-clients",
        "--config",
        &env.config,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("--role root: use admin, author, operator, viewer or partner"),
        "{}",
        stderr(&bad)
    );
    let none = relance(&[
        "token",
        "create",
        "--role",
        "viewer",
        "--config",
        &env.config,
    ]);
    assert!(stderr(&none).contains("--client"), "{}", stderr(&none));
}

#[tokio::test]
async fn requests_without_a_live_token_are_refused_with_401_and_change_nothing() {
    let env = env("token_401", roomy()).await;
    let events = count(&env.store, "events").await;
    let (_, secret) = create(&env, &["--role", "admin", "--all-clients"]);

    let none = call(env.addr, "POST", "/api/v1/events", &[], ACME_PAYMENT).await;
    let basic = call(
        env.addr,
        "POST",
        "/api/v1/events",
        &[("Authorization", "Basic YWRtaW46YWRtaW4=")],
        ACME_PAYMENT,
    )
    .await;
    let empty = post_event(env.addr, "", &[], ACME_PAYMENT).await;
    let unknown = post_event(env.addr, "rl_not-a-token-anyone-made", &[], ACME_PAYMENT).await;
    let tampered = post_event(env.addr, &format!("{secret}x"), &[], ACME_PAYMENT).await;
    let audit = call(env.addr, "GET", "/api/v1/audit", &[], "").await;
    for (what, answer) in [
        ("no header", &none),
        ("basic", &basic),
        ("empty", &empty),
        ("unknown", &unknown),
        ("tampered", &tampered),
        ("audit", &audit),
    ] {
        assert_eq!(answer.status, 401, "{what}: {}", answer.body);
        assert!(answer.is_problem("unauthorized"), "{what}: {}", answer.body);
    }
    assert_eq!(
        count(&env.store, "events").await,
        events,
        "nothing recorded"
    );

    // Health and readiness need no token.
    assert_eq!(call(env.addr, "GET", "/health", &[], "").await.status, 200);
}

#[tokio::test]
async fn a_role_without_the_permission_gets_403_and_another_clients_case_404() {
    let env = env("token_scope", roomy()).await;
    let (_, viewer) = create(&env, &["--role", "viewer", "--all-clients"]);
    let (_, partner) = create(&env, &["--role", "partner", "--client", "acme"]);
    let (_, admin) = create(&env, &["--role", "admin", "--all-clients"]);
    let events = count(&env.store, "events").await;

    let answer = post_event(env.addr, &viewer, &[], ACME_PAYMENT).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.is_problem("forbidden"), "{}", answer.body);
    let answer = get(env.addr, &partner, "/api/v1/audit").await;
    assert_eq!(answer.status, 403, "{}", answer.body);

    let answer = post_event(env.addr, &partner, &[], IBERIA_PAYMENT).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert!(answer.is_problem("not_found"), "{}", answer.body);
    // Naming its own client with another client's case finds nothing either.
    let iberia_instance: String = env
        .store
        .connection()
        .query_one_raw(sea_orm::Statement::from_string(
            env.store.backend(),
            "SELECT i.id FROM instances i JOIN cases c ON c.id = i.case_id WHERE c.client_id = 'iberia'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    let smuggled = format!(
        r#"{{"type": "payment.received", "client_id": "acme", "case_id": "{iberia_instance}", "amount": "10.00"}}"#
    );
    let answer = post_event(env.addr, &partner, &[], &smuggled).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert!(answer.is_problem("case_not_found"), "{}", answer.body);
    assert_eq!(
        count(&env.store, "events").await,
        events,
        "nothing recorded"
    );

    assert_eq!(
        post_event(env.addr, &partner, &[], ACME_PAYMENT)
            .await
            .status,
        202
    );
    assert_eq!(
        post_event(env.addr, &admin, &[], IBERIA_PAYMENT)
            .await
            .status,
        202
    );
    assert_eq!(count(&env.store, "events").await, events + 2);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_records_the_event_once() {
    let env = env("token_idem", roomy()).await;
    let (_, secret) = create(&env, &["--role", "partner", "--client", "acme"]);
    let (_, other) = create(&env, &["--role", "partner", "--client", "acme"]);
    let key = [("Idempotency-Key", "pay-2026-0001")];

    let first = post_event(env.addr, &secret, &key, ACME_PAYMENT).await;
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = post_event(env.addr, &secret, &key, ACME_PAYMENT).await;
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.header("content-type"), first.header("content-type"));
    assert_eq!(
        count(&env.store, "events WHERE delivery_id = 'pay-2026-0001'").await,
        1
    );

    let changed = ACME_PAYMENT.replace("10.00", "99.00");
    let reused = post_event(env.addr, &secret, &key, &changed).await;
    assert_eq!(reused.status, 422, "{}", reused.body);
    assert!(
        reused.is_problem("idempotency_key_reused"),
        "{}",
        reused.body
    );

    // Keys belong to their token: another token's same key is its own
    // request (here a duplicate delivery id, which the intake says so).
    let theirs = post_event(env.addr, &other, &key, &changed).await;
    assert_eq!(theirs.status, 200, "{}", theirs.body);
    assert_eq!(theirs.header("idempotent-replayed"), None);
    assert!(theirs.body.contains("duplicate"), "{}", theirs.body);
    assert_eq!(
        count(&env.store, "events WHERE delivery_id = 'pay-2026-0001'").await,
        1
    );

    // A 404 is not kept: once the case exists, the same key goes through.
    let unknown = ACME_PAYMENT.replace("D-100", "D-999");
    let later = [("Idempotency-Key", "pay-later")];
    assert_eq!(
        post_event(env.addr, &secret, &later, &unknown).await.status,
        404
    );
    let again = post_event(env.addr, &secret, &later, &unknown).await;
    assert_eq!(again.status, 404);
    assert_eq!(again.header("idempotent-replayed"), None, "ran again");
}

#[tokio::test]
async fn requests_racing_with_one_key_record_one_event() {
    let env = env("token_race", roomy()).await;
    let (_, secret) = create(&env, &["--role", "partner", "--client", "acme"]);
    let body = r#"{"type": "payment.received", "client_id": "acme", "debtor_id": "D-101", "amount": "5.00"}"#;
    let key = [("Idempotency-Key", "race-1")];
    let answers =
        futures_util::future::join_all((0..8).map(|_| post_event(env.addr, &secret, &key, body)))
            .await;
    let fresh = answers
        .iter()
        .filter(|a| a.status == 202 && a.header("idempotent-replayed").is_none())
        .count();
    assert_eq!(fresh, 1, "one request ran");
    for a in &answers {
        assert!(
            a.status == 202 || (a.status == 409 && a.is_problem("idempotency_key_in_flight")),
            "{} {}",
            a.status,
            a.body
        );
    }
    assert_eq!(
        count(&env.store, "events WHERE delivery_id = 'race-1'").await,
        1
    );
}

#[tokio::test]
async fn a_token_over_its_rate_gets_429_with_retry_after() {
    let env = env(
        "token_rate",
        Limits {
            body_limit: 64 * 1024,
            rate_limit_per_second: 1,
            rate_limit_burst: 2,
        },
    )
    .await;
    let (_, busy) = create(&env, &["--role", "admin", "--all-clients"]);
    let (_, calm) = create(&env, &["--role", "admin", "--all-clients"]);

    assert_eq!(get(env.addr, &busy, "/api/v1/audit").await.status, 200);
    assert_eq!(get(env.addr, &busy, "/api/v1/audit").await.status, 200);
    let limited = get(env.addr, &busy, "/api/v1/audit").await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.is_problem("rate_limited"), "{}", limited.body);
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(
        get(env.addr, &calm, "/api/v1/audit").await.status,
        200,
        "a bucket per token"
    );

    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(
        get(env.addr, &busy, "/api/v1/audit").await.status,
        200,
        "refilled"
    );
}

#[tokio::test]
async fn changes_and_personal_data_reads_are_audited_and_listed_by_pages() {
    let env = env("token_audit", roomy()).await;
    let (partner_id, partner) = create(&env, &["--role", "partner", "--client", "acme"]);
    let (_, admin) = create(&env, &["--role", "admin", "--all-clients"]);
    let key = [("Idempotency-Key", "audited-1")];
    assert_eq!(
        post_event(env.addr, &partner, &key, ACME_PAYMENT)
            .await
            .status,
        202
    );
    // A replay and a refusal change nothing and are not audited.
    assert_eq!(
        post_event(env.addr, &partner, &key, ACME_PAYMENT)
            .await
            .status,
        202
    );
    assert_eq!(
        post_event(env.addr, &partner, &[], IBERIA_PAYMENT)
            .await
            .status,
        404
    );

    let operator = Caller {
        token_id: "tok_operator".into(),
        role: Role::Operator,
        scope: Scope::All,
    };
    audit_read(
        &env.store,
        &operator,
        "debtor:acme/D-100",
        "contacts",
        1_000,
    )
    .await
    .unwrap();

    let answer = get(env.addr, &admin, "/api/v1/audit?limit=500").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let page: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let items = page["items"].as_array().unwrap();
    let records: Vec<_> = items
        .iter()
        .filter(|i| i["action"] == "event.record")
        .collect();
    assert_eq!(records.len(), 1, "{items:#?}");
    assert_eq!(records[0]["actor"], format!("token:{partner_id}"));
    assert!(
        records[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("instance:")
    );
    assert!(
        records[0]["detail"]
            .as_str()
            .unwrap()
            .contains("payment.received")
    );
    assert!(records[0]["detail"].as_str().unwrap().contains("audited-1"));
    let reads: Vec<_> = items
        .iter()
        .filter(|i| i["action"] == "personal.read")
        .collect();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0]["actor"], "token:tok_operator");
    assert_eq!(reads[0]["subject"], "debtor:acme/D-100");
    assert_eq!(
        items
            .iter()
            .filter(|i| {
                i["action"] == "token.create"
                    && i["actor"].as_str().is_some_and(|a| a.starts_with("cli:"))
            })
            .count(),
        2
    );
    assert!(page["next"].is_null());

    // One line a page, following `next`.
    let mut seen = Vec::new();
    let mut path = "/api/v1/audit?limit=1".to_string();
    loop {
        let answer = get(env.addr, &admin, &path).await;
        let page: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].clone()),
        );
        let Some(next) = page["next"].as_str() else {
            break;
        };
        path = format!("/api/v1/audit?limit=1&after={next}");
    }
    let all: Vec<_> = items.iter().map(|i| i["id"].clone()).collect();
    assert_eq!(seen, all);

    let only = get(env.addr, &admin, "/api/v1/audit?subject=debtor:acme/D-100").await;
    let only: serde_json::Value = serde_json::from_str(&only.body).unwrap();
    assert_eq!(only["items"].as_array().unwrap().len(), 1);

    for bad in ["limit=501", "limit=0", "limit=many", "after=yesterday"] {
        let answer = get(env.addr, &admin, &format!("/api/v1/audit?{bad}")).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert!(answer.is_problem("invalid_page"), "{bad}: {}", answer.body);
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_problem() {
    let env = env(
        "token_413",
        Limits {
            body_limit: 1024,
            rate_limit_per_second: 0,
            rate_limit_burst: 0,
        },
    )
    .await;
    let (_, secret) = create(&env, &["--role", "admin", "--all-clients"]);
    let events = count(&env.store, "events").await;
    let big = format!(
        r#"{{"type": "payment.received", "client_id": "acme", "debtor_id": "D-100", "amount": "1.00", "reason": "{}"}}"#,
        "x".repeat(2000)
    );

    let plain = post_event(env.addr, &secret, &[], &big).await;
    let keyed = post_event(env.addr, &secret, &[("Idempotency-Key", "big-1")], &big).await;
    // Without a Content-Length, the limit is found while reading.
    let chunked = {
        let mut request = format!(
            "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Authorization: Bearer {secret}\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n\r\n"
        );
        for piece in big.as_bytes().chunks(500) {
            request.push_str(&format!(
                "{:x}\r\n{}\r\n",
                piece.len(),
                String::from_utf8_lossy(piece)
            ));
        }
        request.push_str("0\r\n\r\n");
        exchange(env.addr, request.into_bytes()).await
    };
    for (what, answer) in [("plain", &plain), ("keyed", &keyed), ("chunked", &chunked)] {
        assert_eq!(answer.status, 413, "{what}: {}", answer.body);
        assert!(
            answer.is_problem("body_too_large"),
            "{what}: {} {}",
            answer.head,
            answer.body
        );
    }
    assert_eq!(count(&env.store, "events").await, events);
}

#[test]
fn the_rate_limit_is_configured_under_http_and_a_zero_burst_is_refused() {
    use relance::config::{Config, ConfigError};

    let defaults = Config::default().http.limits();
    assert_eq!(
        (defaults.rate_limit_per_second, defaults.rate_limit_burst),
        (50, 100)
    );
    let text = "http:\n  rate_limit_per_second: 5\n  rate_limit_burst: 20\n";
    let limits = Config::from_str("relance.yaml", text)
        .unwrap()
        .http
        .limits();
    assert_eq!(
        (limits.rate_limit_per_second, limits.rate_limit_burst),
        (5, 20)
    );
    let off = "http:\n  rate_limit_per_second: 0\n  rate_limit_burst: 0\n";
    assert!(
        Config::from_str("relance.yaml", off).is_ok(),
        "0 turns it off"
    );

    let text = "http:\n  rate_limit_per_second: 5\n  rate_limit_burst: 0\n";
    match Config::from_str("relance.yaml", text) {
        Err(ConfigError::Invalid { field, line, .. }) => {
            assert_eq!(field, "http.rate_limit_burst");
            assert_eq!(line, 3);
        }
        other => panic!("{other:?}"),
    }
}

/// The store's side of tokens, keys and the audit log on one database.
async fn keys_tokens_and_the_audit_log_behave_alike(store: Store) {
    use relance::store::{KeyClaim, KeyedRequest, StoredResponse};

    store
        .create_token("tok_1", "hash-1", "partner", r#"["acme"]"#, "", 1)
        .await
        .unwrap();
    assert!(store.revoke_token("tok_1", 2).await.unwrap());
    assert!(
        !store.revoke_token("tok_1", 3).await.unwrap(),
        "revoked once"
    );
    let row = store.token_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!(row.revoked_at, Some(2));

    let request = KeyedRequest {
        token_id: "tok_1",
        key: "k",
        method: "POST",
        path: "/api/v1/events",
        body_hash: "b",
    };
    let claim =
        |now: i64| store.claim_idempotency_key(request, now, now - 86_400_000, now - 300_000);
    assert_eq!(claim(10).await.unwrap(), KeyClaim::Claimed);
    assert_eq!(claim(11).await.unwrap(), KeyClaim::InFlight);
    let other = KeyedRequest {
        body_hash: "c",
        ..request
    };
    assert_eq!(
        store.claim_idempotency_key(other, 12, 0, 0).await.unwrap(),
        KeyClaim::Mismatch
    );
    let answer = StoredResponse {
        status: 202,
        content_type: Some("application/json".into()),
        body: vec![0, 1, 2, 255],
    };
    store
        .finish_idempotency_key("tok_1", "k", &answer)
        .await
        .unwrap();
    assert_eq!(claim(13).await.unwrap(), KeyClaim::Done(answer));
    assert_eq!(store.purge_idempotency_keys(14).await.unwrap(), 1);

    store
        .audit("cli", "token.create", "token:tok_1", "", 1)
        .await
        .unwrap();
    let db = store.connection();
    assert!(
        db.execute_unprepared("UPDATE audit_log SET actor = 'x'")
            .await
            .is_err()
    );
    assert!(
        db.execute_unprepared("DELETE FROM audit_log")
            .await
            .is_err()
    );
    assert_eq!(store.audit_log(0, 10, None).await.unwrap().len(), 1);

    // The migrations still go down and up again (the triggers first).
    use migration::MigratorTrait;
    migration::Migrator::down(db, None).await.unwrap();
    migration::Migrator::up(db, None).await.unwrap();
    assert!(store.audit_log(0, 10, None).await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_keys_tokens_and_the_audit_log() {
    let (store, _) = support::sqlite_store("access_store").await;
    keys_tokens_and_the_audit_log_behave_alike(store).await;
}

#[tokio::test]
async fn postgres_keys_tokens_and_the_audit_log() {
    let Some(store) = support::postgres_store("access_store").await else {
        return;
    };
    keys_tokens_and_the_audit_log_behave_alike(store).await;
}

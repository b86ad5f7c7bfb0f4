//! `Idempotency-Key` on token-authenticated writes: a client that retries a
//! POST (or PATCH) with the same key gets the first answer again, and the
//! change is made once.
//!
//! Keys belong to the token that used them and are kept 24 hours. With the
//! same key, the same method, path and body (by SHA-256) replay the first
//! response (status, content type, body) with `Idempotent-Replayed: true`;
//! another request is a 422 `idempotency_key_reused`; while the first is
//! still running, 409 `idempotency_key_in_flight`. Only a first answer
//! that a retry would get again is kept: a success (2xx, 3xx) or a refusal
//! of the request itself (400, 413, 422). Any other answer (404, 409,
//! 5xx: things that may change), or a request that never answered (the
//! connection dropped), is not kept: the key is free again for a retry.
//!
//! A route opts in by being in the router that [`keep_answers`] wraps, which
//! `api::router` puts inside the token check: every route added to
//! `api::token_routes` has it. Requests without the header, and GET, PUT
//! and DELETE, pass through untouched. This module replays; it knows
//! nothing about what a handler does.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tracing::warn;

use super::auth::Caller;
use super::{AppState, Problem, limits};
use crate::store::{KeyClaim, KeyedRequest, Store, StoredResponse};

/// The request header that names a retry.
pub const HEADER: &str = "idempotency-key";

/// The response header that marks a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";

/// How long a key is kept after its first use.
pub const KEY_TTL_MS: i64 = 24 * 3600 * 1000;

/// How long a request may run before its key is thought abandoned (its
/// process died) and a retry may take the key over.
pub const IN_FLIGHT_STALE_MS: i64 = 5 * 60 * 1000;

/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// How often, at most, a process purges expired keys.
const PURGE_EVERY_MS: i64 = 3600 * 1000;

/// What the idempotency layer needs.
#[derive(Clone)]
pub struct Keys {
    store: Store,
    body_limit: usize,
    last_purge: Arc<AtomicI64>,
}

impl Keys {
    pub fn new(store: Store, body_limit: usize) -> Keys {
        Keys {
            store,
            body_limit,
            last_purge: Arc::new(AtomicI64::new(0)),
        }
    }
}

/// Wraps every route of `routes` in the idempotency layer. It reads the
/// [`Caller`] that the token check left in the request, so `routes` must
/// then be given to [`super::auth::require_token`].
pub fn keep_answers(routes: Router<AppState>, keys: Keys) -> Router<AppState> {
    routes.route_layer(from_fn_with_state(keys, idempotent))
}

/// A claimed key: released if the request ends without a kept answer
/// (also when the connection drops and the handler's future is dropped).
struct Claim {
    store: Store,
    token_id: String,
    key: String,
    settled: bool,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        let token_id = std::mem::take(&mut self.token_id);
        let key = std::mem::take(&mut self.key);
        runtime.spawn(async move {
            if let Err(err) = store.release_idempotency_key(&token_id, &key).await {
                warn!(error = %err, token.id = %token_id, "idempotency key not released");
            }
        });
    }
}

fn problem(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Response {
    Problem::new(status, code, detail).into_response()
}

/// The key a request names, if any; 400 for one that is not printable
/// ASCII of 1 to 255 characters.
fn key_of(request: &Request) -> Result<Option<String>, Problem> {
    let Some(value) = request.headers().get(HEADER) else {
        return Ok(None);
    };
    let bad = || {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters"),
        )
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text.is_empty() || text.len() > MAX_KEY_LEN || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(text.to_string()))
}

/// The whole body, or a 413 problem past `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, Problem> {
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the request body could not be read: {err}"),
            )
        })?;
        if out.len() + chunk.len() > limit {
            return Err(limits::too_large(limit));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// Whether an answer is kept for replays: one a retry would get again.
fn kept(status: StatusCode) -> bool {
    status.is_success() || status.is_redirection() || matches!(status.as_u16(), 400 | 413 | 422)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    if let Some(value) = stored
        .content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

async fn idempotent(State(keys): State<Keys>, request: Request, next: Next) -> Response {
    if !matches!(*request.method(), Method::POST | Method::PATCH) {
        return next.run(request).await;
    }
    let key = match key_of(&request) {
        Ok(Some(key)) => key,
        Ok(None) => return next.run(request).await,
        Err(p) => return p.into_response(),
    };
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        // Outside the token check there is no one to scope the key to.
        return next.run(request).await;
    };

    let (parts, body) = request.into_parts();
    let body = match read_body(body, keys.body_limit).await {
        Ok(b) => b,
        Err(p) => return p.into_response(),
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let body_hash = sha256_hex(&body);
    let now = chrono::Utc::now().timestamp_millis();
    purge_now_and_then(&keys, now);

    let claim = keys
        .store
        .claim_idempotency_key(
            KeyedRequest {
                token_id: &caller.token_id,
                key: &key,
                method: parts.method.as_str(),
                path: &path,
                body_hash: &body_hash,
            },
            now,
            now - KEY_TTL_MS,
            now - IN_FLIGHT_STALE_MS,
        )
        .await;
    match claim {
        Err(err) => return super::internal(err).into_response(),
        Ok(KeyClaim::Done(stored)) => return replay(stored),
        Ok(KeyClaim::InFlight) => {
            return problem(
                StatusCode::CONFLICT,
                "idempotency_key_in_flight",
                "a request with this Idempotency-Key is still running; retry when it has answered",
            );
        }
        Ok(KeyClaim::Mismatch) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used for another request (method, path or body); \
                 use a new key for a new request",
            );
        }
        Ok(KeyClaim::Claimed) => {}
    }

    let mut guard = Claim {
        store: keys.store.clone(),
        token_id: caller.token_id.clone(),
        key: key.clone(),
        settled: false,
    };
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if !kept(response.status()) {
        // Not kept: the key is free for a retry (the guard frees it if
        // this fails too).
        if let Err(err) = keys
            .store
            .release_idempotency_key(&caller.token_id, &key)
            .await
        {
            warn!(error = %err, token.id = %caller.token_id, "idempotency key not released");
        } else {
            guard.settled = true;
        }
        return response;
    }

    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(err) => return super::internal(err).into_response(),
    };
    let stored = StoredResponse {
        status: parts.status.as_u16(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: body.to_vec(),
    };
    match keys
        .store
        .finish_idempotency_key(&caller.token_id, &key, &stored)
        .await
    {
        Ok(()) => guard.settled = true,
        // The answer still goes out; the guard frees the key, so a retry
        // runs the handler again rather than waiting on it forever.
        Err(err) => warn!(error = %err, token.id = %caller.token_id, "idempotent answer not kept"),
    }
    Response::from_parts(parts, Body::from(body))
}

/// Purges expired keys, at most once an hour per process, in the background.
fn purge_now_and_then(keys: &Keys, now: i64) {
    let last = keys.last_purge.load(Ordering::Relaxed);
    if now - last < PURGE_EVERY_MS
        || keys
            .last_purge
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let store = keys.store.clone();
    tokio::spawn(async move {
        if let Err(err) = store.purge_idempotency_keys(now - KEY_TTL_MS).await {
            warn!(error = %err, "expired idempotency keys not purged");
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use axum::routing::post;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::api::auth::{Role, Scope};
    use crate::runtime::{Clock, Metrics};
    use crate::store::Synchronous;

    async fn memory_store() -> Store {
        let store = Store::open("sqlite::memory:", Synchronous::Full)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    /// A server whose one POST route counts its runs and sleeps `delay`;
    /// the caller is set by a stand-in for the token check.
    async fn server(
        delay: Duration,
        status: StatusCode,
    ) -> (std::net::SocketAddr, Arc<AtomicUsize>, Store) {
        let store = memory_store().await;
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        let state = AppState {
            store: store.clone(),
            metrics: Arc::new(Metrics::default()),
            notify: Arc::new(tokio::sync::Notify::new()),
            clock: Clock::fixed(chrono::Utc::now()),
            inbound: Default::default(),
        };
        let routes = Router::new().route(
            "/work",
            post(move |body: Bytes| {
                let counter = counter.clone();
                async move {
                    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    tokio::time::sleep(delay).await;
                    (
                        status,
                        [(header::CONTENT_TYPE, "application/json")],
                        format!("{{\"run\": {n}, \"got\": {}}}", body.len()),
                    )
                }
            }),
        );
        let routes = keep_answers(routes, Keys::new(store.clone(), 1024)).route_layer(
            axum::middleware::from_fn(|mut request: Request, next: Next| async move {
                request.extensions_mut().insert(Caller {
                    token_id: "tok_test".into(),
                    role: Role::Admin,
                    scope: Scope::All,
                });
                next.run(request).await
            }),
        );
        let app = routes.with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, runs, store)
    }

    /// (status, head, body) of one POST /work.
    async fn post_work(addr: std::net::SocketAddr, key: &str, body: &str) -> (u16, String, String) {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "POST /work HTTP/1.1\r\nHost: x\r\nIdempotency-Key: {key}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).await.unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_string())
    }

    #[tokio::test]
    async fn a_retry_with_the_same_key_and_body_replays_the_first_answer_without_running_again() {
        let (addr, runs, _) = server(Duration::ZERO, StatusCode::CREATED).await;
        let first = post_work(addr, "k-1", "{\"a\": 1}").await;
        let again = post_work(addr, "k-1", "{\"a\": 1}").await;
        assert_eq!(first.0, 201);
        assert_eq!((again.0, again.2.as_str()), (201, first.2.as_str()));
        assert!(again.1.contains("idempotent-replayed: true"), "{}", again.1);
        assert!(
            again.1.contains("content-type: application/json"),
            "{}",
            again.1
        );
        assert!(!first.1.contains("idempotent-replayed"), "{}", first.1);
        assert_eq!(runs.load(Ordering::SeqCst), 1);

        let other = post_work(addr, "k-1", "{\"a\": 2}").await;
        assert_eq!(other.0, 422);
        assert!(other.2.contains("idempotency_key_reused"), "{}", other.2);
        assert_eq!(runs.load(Ordering::SeqCst), 1);

        let fresh = post_work(addr, "k-2", "{\"a\": 2}").await;
        assert_eq!(fresh.0, 201);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn two_requests_at_once_with_one_key_run_the_handler_once() {
        let (addr, runs, _) = server(Duration::from_millis(400), StatusCode::OK).await;
        let (a, b) = tokio::join!(post_work(addr, "same", "{}"), post_work(addr, "same", "{}"));
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
        let conflict = if a.0 == 409 { &a } else { &b };
        assert!(
            conflict.2.contains("idempotency_key_in_flight"),
            "{}",
            conflict.2
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);

        // Once the first has answered, the key replays.
        let later = post_work(addr, "same", "{}").await;
        assert_eq!(later.0, 200);
        assert!(later.1.contains("idempotent-replayed: true"));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_server_error_is_not_kept_so_the_retry_runs_again() {
        let (addr, runs, _) = server(Duration::ZERO, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(post_work(addr, "k", "{}").await.0, 503);
        let again = post_work(addr, "k", "{}").await;
        assert_eq!(again.0, 503);
        assert!(!again.1.contains("idempotent-replayed"));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn answers_that_may_change_are_not_kept() {
        for status in [200, 201, 202, 204, 303, 400, 413, 422] {
            assert!(kept(StatusCode::from_u16(status).unwrap()), "{status}");
        }
        for status in [401, 403, 404, 409, 429, 500, 503] {
            assert!(!kept(StatusCode::from_u16(status).unwrap()), "{status}");
        }
    }

    #[tokio::test]
    async fn a_bad_key_or_a_body_over_the_limit_is_refused_before_the_handler() {
        let (addr, runs, _) = server(Duration::ZERO, StatusCode::OK).await;
        let long = "k".repeat(MAX_KEY_LEN + 1);
        let (status, _, body) = post_work(addr, &long, "{}").await;
        assert_eq!(status, 400);
        assert!(body.contains("invalid_idempotency_key"), "{body}");
        let (status, head, body) = post_work(addr, "big", &"x".repeat(2000)).await;
        assert_eq!(status, 413);
        assert!(head.contains("application/problem+json"), "{head}");
        assert!(body.contains("body_too_large"), "{body}");
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn keys_expire_after_a_day_and_belong_to_one_token() {
        let store = memory_store().await;
        let request = |token| KeyedRequest {
            token_id: token,
            key: "k",
            method: "POST",
            path: "/p",
            body_hash: "h",
        };
        let day = KEY_TTL_MS;
        let t0 = 10 * day;
        let claim = |token, now: i64| {
            let store = store.clone();
            async move {
                store
                    .claim_idempotency_key(request(token), now, now - day, now - IN_FLIGHT_STALE_MS)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(claim("a", t0).await, KeyClaim::Claimed);
        assert_eq!(
            claim("b", t0).await,
            KeyClaim::Claimed,
            "another token's key"
        );
        let answer = StoredResponse {
            status: 202,
            content_type: Some("application/json".into()),
            body: b"{}".to_vec(),
        };
        store
            .finish_idempotency_key("a", "k", &answer)
            .await
            .unwrap();
        assert_eq!(
            claim("a", t0 + day - 1).await,
            KeyClaim::Done(answer.clone())
        );
        assert_eq!(claim("a", t0 + day + 1).await, KeyClaim::Claimed);

        // b's claim never answered: in flight, then abandoned and taken over.
        assert_eq!(claim("b", t0 + 1000).await, KeyClaim::InFlight);
        assert_eq!(
            claim("b", t0 + IN_FLIGHT_STALE_MS + 1).await,
            KeyClaim::Claimed
        );

        assert_eq!(store.purge_idempotency_keys(t0 + 3 * day).await.unwrap(), 2);
    }
}

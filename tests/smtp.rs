//! The smtp adapter against a real SMTP server (aiosmtpd, started by each test on a free
//! loopback port): what arrives, and how the server's refusals map onto `SendError`.
//!
//! Without `python3` and its `aiosmtpd` package the tests say so and skip; under `CI=true`
//! they fail instead, so that nothing is silently left out.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use relance::channels::{
    Adapters, Delivery, Document, DocumentData, Documents, DynChannel, Message, RenderExtras,
    SendError, SmtpChannel, SmtpSettings, SmtpTls, case_id_from_address, message_id,
    render_message_with,
};
use relance::engine::{Action, ActionKind, shared};
use relance::rules::Rules;
use relance::scenario::{Attachment, Channel, load_checked};
use relance::simulate::parse_case;
use relance::templates::{Brand, TemplateStore};
use serde_json::Value;

const SERVER: &str = "tests/support/smtp_server.py";

/// A running test SMTP server, stopped when dropped.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server, or says why it cannot (and panics under `CI=true`).
    fn start(name: &str) -> Option<Server> {
        Self::start_with(name, &[])
    }

    /// Starts the server with extra arguments (`--starttls CERT KEY`, `--tls CERT KEY`).
    fn start_with(name: &str, args: &[&str]) -> Option<Server> {
        let has_aiosmtpd = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has_aiosmtpd {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("python3 with aiosmtpd is missing, and CI=true: the SMTP tests must run");
            }
            eprintln!(
                "skipped: no python3 with aiosmtpd (python3 -m pip install aiosmtpd to run \
                 this test)"
            );
            return None;
        }

        let dir = support::scratch(name);
        let mut child = Command::new("python3")
            .arg(SERVER)
            .arg(&dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 starts");
        let stdout = child.stdout.take().expect("the server's stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the server says where it listens");
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the SMTP server: {line:?}"));
        Some(Server { child, port, dir })
    }

    fn settings(&self) -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: self.port,
            tls: SmtpTls::None,
            credentials: None,
            from: "Lumen Recouvrement <credit@lumen.example>".into(),
            timeout: Duration::from_secs(10),
            allow_loopback: true,
        }
    }

    /// The `n`th message received (from 1), as the server's email parser read it.
    fn received(&self, n: usize) -> Value {
        read_json(&self.dir.join(format!("{n}.json")))
    }

    fn count(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
            })
            .count()
    }
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: no message received ({e})", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Stands in for the PDF writer: a small "PDF" per attachment name.
struct FakePdfs;

impl Documents for FakePdfs {
    fn document(&self, msg: &Message, name: &str) -> Option<Document> {
        Some(Document {
            name: name.to_string(),
            content_type: "application/pdf".into(),
            bytes: format!("%PDF-1.4 {} {name}", msg.case_id).into_bytes(),
        })
    }
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 20).unwrap()
}

/// The first reminder of the example French company case, rendered as the dispatcher does.
fn reminder(key: &str) -> Message {
    let store = TemplateStore::load(Path::new("templates")).expect("the shipped templates load");
    let source = std::fs::read_to_string("scenarios/b2b-france.yaml").unwrap();
    let scenario = load_checked(&Rules::new(), "b2b-france.yaml", &source, None)
        .scenario
        .expect("b2b-france loads");
    let text = std::fs::read_to_string("examples/case-fr-company.yaml").unwrap();
    let case = parse_case("case-fr-company.yaml", &text).unwrap().case;
    let opened = Utc.with_ymd_and_hms(2026, 1, 15, 0, 0, 0).unwrap();
    let instance = shared().start(&scenario, case, opened).unwrap().instance;
    let action = Action {
        key: key.into(),
        at: Utc.with_ymd_and_hms(2026, 3, 20, 9, 0, 0).unwrap(),
        step: "first".into(),
        kind: ActionKind::Send {
            channel: Channel::Email,
            template: "reminder_email".into(),
            language: "fr".into(),
            attach: vec![Attachment::Invoices],
        },
    };
    render_message_with(
        &store,
        &Brand::default(),
        &instance,
        &action,
        today(),
        &RenderExtras::default(),
    )
    .expect("the reminder renders")
}

fn to(msg: &Message, email: &str) -> Message {
    let mut msg = msg.clone();
    msg.to.email = Some(email.into());
    msg
}

#[tokio::test]
async fn a_rendered_reminder_arrives_with_its_headers_body_and_attachments() {
    let Some(server) = Server::start("smtp_reminder") else {
        return;
    };
    let smtp = SmtpChannel::new(&server.settings())
        .unwrap()
        .with_documents(Arc::new(FakePdfs));
    let msg = reminder("acme/D-1001/v1/first/1");
    assert_eq!(
        msg.attachments,
        ["invoice-F-2026-0142.pdf", "invoice-F-2026-0178.pdf"]
    );

    let delivery = smtp.send_boxed(&msg).await.unwrap();
    let Delivery::Sent { provider_id } = delivery else {
        panic!("expected Sent, got {delivery:?}");
    };
    assert_eq!(provider_id.as_deref(), Some("2.0.0 Ok: queued as M1"));

    let got = server.received(1);
    let headers = &got["headers"];
    assert_eq!(got["mail_from"], "credit@lumen.example");
    assert_eq!(got["rcpt_tos"][0], "compta@boulangerie-martin.example");
    assert_eq!(headers["from"], "Lumen Recouvrement <credit@lumen.example>");
    assert_eq!(
        headers["to"],
        "Boulangerie Martin SARL <compta@boulangerie-martin.example>"
    );
    let reply_to = headers["reply-to"].as_str().unwrap();
    assert_eq!(
        reply_to,
        "Lumen Recouvrement <credit+case-acme_2f_44-1001@lumen.example>"
    );
    let reply_address = reply_to.split(['<', '>']).nth(1).unwrap();
    assert_eq!(
        case_id_from_address(reply_address).as_deref(),
        Some(msg.case_id.as_str())
    );
    assert_eq!(
        headers["message-id"],
        message_id("acme/D-1001/v1/first/1", "lumen.example")
    );
    assert_eq!(headers["subject"], msg.subject.clone().unwrap().as_str());
    assert!(headers["date"].as_str().is_some_and(|d| !d.is_empty()));

    let text = got["text"].as_str().unwrap().replace("\r\n", "\n");
    assert_eq!(text.trim_end(), msg.body.trim_end());
    assert!(text.contains("F-2026-0142"), "{text}");

    let attachments = got["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2);
    for (attachment, name) in attachments.iter().zip(&msg.attachments) {
        assert_eq!(attachment["filename"], name.as_str());
        assert_eq!(attachment["content_type"], "application/pdf");
        let bytes = base64_decode(attachment["base64"].as_str().unwrap());
        assert_eq!(bytes, format!("%PDF-1.4 acme/D-1001 {name}").into_bytes());
    }
}

#[tokio::test]
async fn a_second_send_of_the_same_key_carries_the_same_message_id() {
    let Some(server) = Server::start("smtp_same_key") else {
        return;
    };
    let smtp = SmtpChannel::new(&server.settings()).unwrap();
    let msg = reminder("acme/D-1001/v1/first/1");
    smtp.send_boxed(&msg).await.unwrap();
    smtp.send_boxed(&msg).await.unwrap();
    let other = reminder("acme/D-1001/v1/first/2");
    smtp.send_boxed(&other).await.unwrap();

    let ids: Vec<Value> = (1..=3)
        .map(|n| server.received(n)["headers"]["message-id"].clone())
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
}

#[tokio::test]
async fn without_documents_the_email_carries_the_text_alone() {
    let Some(server) = Server::start("smtp_no_documents") else {
        return;
    };
    let smtp = SmtpChannel::new(&server.settings()).unwrap();
    let msg = reminder("acme/D-1001/v1/first/1");
    assert!(!msg.attachments.is_empty());
    smtp.send_boxed(&msg).await.unwrap();

    let got = server.received(1);
    assert_eq!(got["attachments"], serde_json::json!([]));
    assert!(got["text"].as_str().unwrap().contains("F-2026-0142"));
}

#[tokio::test]
async fn a_brand_in_the_payload_signs_the_email() {
    let Some(server) = Server::start("smtp_brand") else {
        return;
    };
    let smtp = SmtpChannel::new(&server.settings()).unwrap();
    let mut msg = reminder("acme/D-1001/v1/first/1");
    msg.payload["brand"] = serde_json::json!({
        "trade_name": "ACME Fournitures",
        "reply_to": "recouvrement@acme.example"
    });
    smtp.send_boxed(&msg).await.unwrap();

    let got = server.received(1);
    assert_eq!(got["mail_from"], "recouvrement@acme.example");
    assert_eq!(
        got["headers"]["from"],
        "ACME Fournitures <recouvrement@acme.example>"
    );
    assert_eq!(
        got["headers"]["reply-to"],
        "ACME Fournitures <recouvrement+case-acme_2f_44-1001@acme.example>"
    );
    assert_eq!(
        got["headers"]["message-id"],
        message_id(&msg.key, "acme.example")
    );
}

#[tokio::test]
async fn a_451_is_retryable_a_550_permanent_and_a_lost_reply_unknown() {
    let Some(server) = Server::start("smtp_refusals") else {
        return;
    };
    let smtp = SmtpChannel::new(&server.settings()).unwrap();
    let msg = reminder("acme/D-1001/v1/first/1");

    let busy = smtp
        .send_boxed(&to(&msg, "reject451@boulangerie-martin.example"))
        .await;
    assert!(matches!(busy, Err(SendError::Retryable(_))), "{busy:?}");
    let gone = smtp
        .send_boxed(&to(&msg, "reject550@boulangerie-martin.example"))
        .await;
    assert!(matches!(gone, Err(SendError::Permanent(_))), "{gone:?}");
    assert_eq!(server.count(), 0, "a refused recipient receives nothing");

    // The server reads the whole message, then hangs up without answering: it may have
    // been sent.
    let lost = smtp
        .send_boxed(&to(&msg, "drop@boulangerie-martin.example"))
        .await;
    assert!(matches!(lost, Err(SendError::Unknown(_))), "{lost:?}");
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn a_message_without_an_email_address_is_refused_for_good() {
    let settings = SmtpSettings {
        host: "127.0.0.1".into(),
        port: 9,
        tls: SmtpTls::None,
        credentials: None,
        from: "credit@lumen.example".into(),
        timeout: Duration::from_secs(2),
        allow_loopback: true,
    };
    let smtp = SmtpChannel::new(&settings).unwrap();
    let mut msg = reminder("acme/D-1001/v1/first/1");
    msg.to.email = None;
    let result = smtp.send_boxed(&msg).await;
    assert!(matches!(result, Err(SendError::Permanent(_))), "{result:?}");
}

#[tokio::test]
async fn a_relay_on_loopback_is_refused_unless_allowed() {
    let settings = SmtpSettings {
        host: "127.0.0.1".into(),
        port: 25,
        tls: SmtpTls::None,
        credentials: None,
        from: "credit@lumen.example".into(),
        timeout: Duration::from_secs(2),
        allow_loopback: false,
    };
    let smtp = SmtpChannel::new(&settings).unwrap();
    let result = smtp.send_boxed(&reminder("acme/D-1001/v1/first/1")).await;
    let Err(SendError::Permanent(reason)) = result else {
        panic!("expected a permanent refusal, got {result:?}");
    };
    assert!(reason.contains("allow_loopback"), "{reason}");
}

#[tokio::test]
async fn the_adapter_table_sends_email_through_smtp() {
    let Some(server) = Server::start("smtp_table") else {
        return;
    };
    let overrides = BTreeMap::from([(Channel::Email, "smtp".to_string())]);
    let dir = support::scratch("smtp_table_files");
    let adapters =
        Adapters::from_settings("file", &overrides, &dir, None, Some(&server.settings())).unwrap();
    assert_eq!(adapters.get(Channel::Email).name(), "smtp");
    assert_eq!(adapters.get(Channel::Sms).name(), "file");

    adapters
        .send(&reminder("acme/D-1001/v1/first/1"))
        .await
        .unwrap();
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn through_the_adapter_table_the_invoices_are_attached_as_real_pdfs() {
    let Some(server) = Server::start("smtp_pdfs") else {
        return;
    };
    let overrides = BTreeMap::from([(Channel::Email, "smtp".to_string())]);
    let dir = support::scratch("smtp_pdfs_files");
    let adapters =
        Adapters::from_settings("file", &overrides, &dir, None, Some(&server.settings())).unwrap();
    let mut msg = reminder("acme/D-1001/v1/first/2");
    // What the dispatcher adds: the open invoices the copies are printed from.
    let source = std::fs::read_to_string("scenarios/b2b-france.yaml").unwrap();
    let scenario = load_checked(&Rules::new(), "b2b-france.yaml", &source, None)
        .scenario
        .unwrap();
    let text = std::fs::read_to_string("examples/case-fr-company.yaml").unwrap();
    let case = parse_case("case-fr-company.yaml", &text).unwrap().case;
    let opened = Utc.with_ymd_and_hms(2026, 1, 15, 0, 0, 0).unwrap();
    let instance = shared().start(&scenario, case, opened).unwrap().instance;
    msg.payload["documents"] = DocumentData::of(&instance, today()).to_payload();
    adapters.send(&msg).await.unwrap();

    let got = server.received(1);
    let attachments = got["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2, "{got}");
    let found = Command::new("pdftotext").arg("-v").output().is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "pdftotext is missing under CI=true: install poppler-utils"
        );
        eprintln!("skipped: pdftotext (poppler-utils) is not installed");
        return;
    }
    for (attachment, (number, amount)) in attachments
        .iter()
        .zip([("F-2026-0142", "1 250,00"), ("F-2026-0178", "480,50")])
    {
        assert_eq!(attachment["filename"], format!("invoice-{number}.pdf"));
        let bytes = base64_decode(attachment["base64"].as_str().unwrap());
        let file = server.dir.join(format!("{number}.pdf"));
        std::fs::write(&file, &bytes).unwrap();
        let out = Command::new("pdftotext")
            .arg(&file)
            .arg("-")
            .output()
            .unwrap();
        assert!(out.status.success(), "{number} is a PDF pdftotext reads");
        let text = String::from_utf8(out.stdout)
            .unwrap()
            .replace(['\u{a0}', '\u{202f}'], " ");
        for expected in [
            format!("Copie de la facture {number}"),
            "Boulangerie Martin SARL".to_string(),
            "12 rue des Lilas".to_string(),
            amount.to_string(),
        ] {
            assert!(text.contains(&expected), "`{expected}` in:\n{text}");
        }
    }
}

/// Standard base64, as the server script writes attachments.
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|c| *c != b'=') {
        let value = ALPHABET.iter().position(|a| *a == c).expect("base64") as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn the_relay_settings_come_from_channels_smtp_and_the_login_from_the_environment() {
    let text = "channels:\n  per_channel: { email: smtp }\n  smtp:\n    host: smtp.lumen.example\n    \
                username_env: SMTP_USER\n    password_env: SMTP_PASSWORD\n    \
                from: \"Lumen <credit@lumen.example>\"\n";
    let config = relance::config::Config::from_str("c.yaml", text).expect("parses");
    let env = |name: &str| match name {
        "SMTP_USER" => Some("lumen".to_string()),
        "SMTP_PASSWORD" => Some("s3cret".to_string()),
        _ => None,
    };
    let settings = config.channels.smtp_with_env(env).unwrap().unwrap();
    assert_eq!(settings.port, 587);
    assert_eq!(settings.tls, SmtpTls::Starttls);
    assert_eq!(
        settings.credentials,
        Some(("lumen".to_string(), "s3cret".to_string()))
    );
    assert_eq!(settings.timeout, Duration::from_secs(30));
    assert!(!settings.allow_loopback);

    let missing = config.channels.smtp_with_env(|_| None).unwrap_err();
    assert!(missing.to_string().contains("SMTP_USER"), "{missing}");
}

#[test]
fn a_channel_on_smtp_without_a_relay_or_a_sender_is_a_configuration_error() {
    let no_host =
        relance::config::Config::from_str("c.yaml", "channels:\n  default_adapter: smtp\n")
            .unwrap_err();
    assert!(
        no_host.to_string().contains("channels.smtp.host"),
        "{no_host}"
    );

    let no_from = relance::config::Config::from_str(
        "c.yaml",
        "channels:\n  smtp:\n    host: smtp.lumen.example\n",
    )
    .unwrap_err();
    assert!(
        no_from.to_string().contains("channels.smtp.from"),
        "{no_from}"
    );

    let half_login = relance::config::Config::from_str(
        "c.yaml",
        "channels:\n  smtp:\n    host: smtp.lumen.example\n    from: a@lumen.example\n    \
         username_env: SMTP_USER\n",
    )
    .unwrap_err();
    assert!(
        half_login.to_string().contains("password_env"),
        "{half_login}"
    );

    let implicit = relance::config::Config::from_str(
        "c.yaml",
        "channels:\n  smtp:\n    host: smtp.lumen.example\n    from: a@lumen.example\n    \
         tls: tls\n",
    )
    .unwrap();
    let settings = implicit.channels.smtp().unwrap().unwrap();
    assert_eq!((settings.tls, settings.port), (SmtpTls::Tls, 465));
}

/// The relay's certificate, from the test authority in tests/support/tls.
const RELAY_CERT: &str = "tests/support/tls/server.pem";
const RELAY_KEY: &str = "tests/support/tls/server.key";

// One test, in order: the authorities trusted are process-wide.
#[tokio::test]
async fn starttls_and_implicit_tls_reach_the_relay_once_its_authority_is_trusted() {
    let Some(starttls) =
        Server::start_with("smtp-starttls", &["--starttls", RELAY_CERT, RELAY_KEY])
    else {
        return;
    };
    let Some(implicit) = Server::start_with("smtp-tls", &["--tls", RELAY_CERT, RELAY_KEY]) else {
        return;
    };
    let channel = |server: &Server, tls: SmtpTls| {
        SmtpChannel::new(&SmtpSettings {
            tls,
            ..server.settings()
        })
        .unwrap()
    };
    let with_starttls = channel(&starttls, SmtpTls::Starttls);
    let with_tls = channel(&implicit, SmtpTls::Tls);

    // The relay's certificate is not from a built-in root: nothing goes out.
    assert!(with_starttls.send_boxed(&reminder("tls/1")).await.is_err());
    assert!(with_tls.send_boxed(&reminder("tls/2")).await.is_err());
    assert_eq!(starttls.count() + implicit.count(), 0);

    relance::channels::trust_ca_file(Path::new("tests/support/tls/ca.pem")).unwrap();
    assert!(matches!(
        with_starttls.send_boxed(&reminder("tls/1")).await,
        Ok(Delivery::Sent { .. })
    ));
    assert!(matches!(
        with_tls.send_boxed(&reminder("tls/2")).await,
        Ok(Delivery::Sent { .. })
    ));
    for server in [&starttls, &implicit] {
        let got = server.received(1);
        assert_eq!(got["rcpt_tos"][0], "compta@boulangerie-martin.example");
        assert!(
            got["text"].as_str().unwrap().contains("F-2026-0142"),
            "{got}"
        );
    }
    // A plain connection to the STARTTLS relay is told to start TLS first.
    let plain = channel(&starttls, SmtpTls::None);
    assert!(plain.send_boxed(&reminder("tls/3")).await.is_err());
    assert_eq!(starttls.count(), 1);
}

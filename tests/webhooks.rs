//! The `webhook` adapter at the HTTP level: a partner receiver checks the Standard Webhooks
//! signature of the handover file it gets, with the idempotency key as `webhook-id`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use relance::channels::{
    Channel, DEFAULT_TOLERANCE, Delivery, Message, MessageKind, Recipient, SendError,
    WebhookChannel, WebhookSecret, WebhookSettings, verify,
};
use relance::scenario::Channel as Via;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: i64 = 1_780_000_000;

/// What the receiver checked of one delivery.
#[derive(Clone, Debug)]
struct Seen {
    headers: Vec<(String, String)>,
    body: String,
    verified: bool,
}

/// A partner on 127.0.0.1 that verifies each delivery with `secret` and answers 204 when it
/// is genuine, 401 when not.
async fn partner(secret: &str) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let secret = WebhookSecret::parse(secret).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/relance", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let n = conn.read(&mut chunk).await.unwrap_or(0);
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let len = header(head, "content-length")
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if rest.len() >= len || n == 0 {
                        break (head.to_string(), rest.to_string());
                    }
                }
                if n == 0 {
                    return;
                }
            };
            let get = |name| header(&head, name).unwrap_or_default();
            let verified = verify(
                &secret,
                &get("webhook-id"),
                &get("webhook-timestamp"),
                &get("webhook-signature"),
                body.as_bytes(),
                NOW,
                DEFAULT_TOLERANCE,
            )
            .is_ok();
            let headers = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(": "))
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
                .collect();
            kept.lock().unwrap().push(Seen {
                headers,
                body,
                verified,
            });
            let status = if verified {
                "204 No Content"
            } else {
                "401 Unauthorized"
            };
            let answer =
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            conn.write_all(answer.as_bytes()).await.ok();
        }
    });
    (url, seen)
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn settings(url: &str, secret: &str) -> WebhookSettings {
    WebhookSettings {
        url: url.to_string(),
        secret: secret.to_string(),
        timeout: Duration::from_secs(5),
        allow_loopback: true,
    }
}

fn handover() -> Message {
    Message {
        key: "inst-9/agent_handover.handover/0".into(),
        case_id: "C-9".into(),
        channel: Via::Webhook,
        template: None,
        language: "fr".into(),
        subject: None,
        body: String::new(),
        to: Recipient {
            name: "Dupont SARL".into(),
            partner: Some("agent_default".into()),
            ..Recipient::default()
        },
        attachments: vec!["invoice-F-2026-0142.pdf".into()],
        kind: MessageKind::Handover,
        payload: serde_json::json!({
            "case": {"id": "C-9"},
            "debtor": {"name": "Dupont SARL", "siren": "123456789"},
            "invoices": [{"number": "F-2026-0142", "balance": "1730.50", "currency": "EUR"}],
            "balance": "1730.50",
        }),
    }
}

#[tokio::test]
async fn a_partner_verifies_the_signed_handover_file() {
    let (url, seen) = partner(SECRET).await;
    let hook = WebhookChannel::new(&settings(&url, SECRET))
        .unwrap()
        .with_clock(|| NOW);
    assert_eq!(
        hook.send(&handover()).await,
        Ok(Delivery::Sent { provider_id: None })
    );

    let seen = seen.lock().unwrap()[0].clone();
    assert!(seen.verified, "{seen:?}");
    let get = |name: &str| {
        seen.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        get("webhook-id").as_deref(),
        Some("inst-9/agent_handover.handover/0")
    );
    assert_eq!(get("webhook-timestamp"), Some(NOW.to_string()));
    assert!(get("webhook-signature").unwrap().starts_with("v1,"));
    assert_eq!(get("content-type").as_deref(), Some("application/json"));

    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["type"], "case.handover");
    assert_eq!(body["data"]["case_id"], "C-9");
    assert_eq!(body["data"]["partner"], "agent_default");
    assert_eq!(body["data"]["file"]["invoices"][0]["balance"], "1730.50");
}

#[tokio::test]
async fn a_delivery_signed_with_another_secret_is_refused_by_the_partner() {
    let (url, seen) = partner(SECRET).await;
    let other = "whsec_c2Vjb25kIHNlY3JldCBvZiBhbm90aGVyIHBhcnRuZXI=";
    let hook = WebhookChannel::new(&settings(&url, other))
        .unwrap()
        .with_clock(|| NOW);
    let err = hook.send(&handover()).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent(m) if m.contains("401")),
        "{err}"
    );
    assert!(!seen.lock().unwrap()[0].verified);
}

#[test]
fn settings_with_a_bad_secret_or_url_are_refused() {
    assert!(WebhookChannel::new(&settings("http://127.0.0.1:9/x", "whsec_???")).is_err());
    assert!(WebhookChannel::new(&settings("ftp://partner", SECRET)).is_err());
}

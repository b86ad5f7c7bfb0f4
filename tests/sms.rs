//! The `sms` adapter at the HTTP level, against a local provider: the form-encoded request
//! (To, From, Body, Basic auth, Idempotency-Key), the generic JSON one from its template,
//! and how answers and over-long texts map onto what the dispatcher decides.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use relance::channels::{
    Channel, Delivery, Message, MessageKind, Recipient, SendError, SmsChannel, SmsProvider,
    SmsSettings,
};
use relance::scenario::Channel as Via;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A provider on 127.0.0.1 that answers every request with `status` and `body`, and keeps
/// the raw requests.
async fn provider(status: u16, body: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/2010-04-01/Accounts/AC1/Messages.json",
        listener.local_addr().unwrap()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = conn.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if rest.len() >= len {
                        break;
                    }
                }
            }
            kept.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf).to_string());
            let answer = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(answer.as_bytes()).await.ok();
        }
    });
    (url, seen)
}

fn settings(provider: SmsProvider, url: &str) -> SmsSettings {
    SmsSettings {
        provider,
        url: url.to_string(),
        sender_id: "ACME".into(),
        account: Some("AC1".into()),
        token: Some("s3cret".into()),
        json_body_template: None,
        headers: Vec::new(),
        max_segments: 2,
        timeout: Duration::from_secs(5),
        allow_loopback: true,
    }
}

fn message(body: &str) -> Message {
    Message {
        key: "inst-1/reminders.sms/0".into(),
        case_id: "C-1".into(),
        channel: Via::Sms,
        template: Some("reminder_sms".into()),
        language: "fr".into(),
        subject: None,
        body: body.into(),
        to: Recipient {
            name: "Dupont SARL".into(),
            mobile: Some("+33612345678".into()),
            ..Recipient::default()
        },
        attachments: Vec::new(),
        kind: MessageKind::Send,
        payload: serde_json::json!({}),
    }
}

#[tokio::test]
async fn the_form_provider_gets_to_from_body_basic_auth_and_the_key() {
    let (url, seen) = provider(201, r#"{"sid": "SM42", "status": "queued"}"#).await;
    let sms = SmsChannel::new(&settings(SmsProvider::Form, &url)).unwrap();
    let sent = sms.send(&message("Bonjour, 12 € restent dus.")).await;
    assert_eq!(
        sent,
        Ok(Delivery::Sent {
            provider_id: Some("SM42".into())
        })
    );

    let request = seen.lock().unwrap()[0].clone();
    assert!(
        request.starts_with("POST /2010-04-01/Accounts/AC1/Messages.json HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains("Content-Type: application/x-www-form-urlencoded\r\n"),
        "{request}"
    );
    // base64("AC1:s3cret")
    assert!(
        request.contains("Authorization: Basic QUMxOnMzY3JldA==\r\n"),
        "{request}"
    );
    assert!(
        request.contains("Idempotency-Key: inst-1/reminders.sms/0\r\n"),
        "{request}"
    );
    let body = request.split_once("\r\n\r\n").unwrap().1;
    assert_eq!(
        body,
        "To=%2B33612345678&From=ACME&Body=Bonjour%2C+12+%E2%82%AC+restent+dus."
    );
}

#[tokio::test]
async fn the_json_provider_gets_its_template_and_headers() {
    let (url, seen) = provider(200, r#"{"id": "j-7"}"#).await;
    let mut s = settings(SmsProvider::Json, &url);
    s.account = None;
    s.json_body_template = Some(r#"{"dest":"{{to}}","text":"{{body}}","ref":"{{key}}"}"#.into());
    s.headers = vec![("X-Api-Version".into(), "3".into())];
    let sms = SmsChannel::new(&s).unwrap();
    let sent = sms.send(&message("Merci de \"régler\"")).await;
    assert_eq!(
        sent,
        Ok(Delivery::Sent {
            provider_id: Some("j-7".into())
        })
    );

    let request = seen.lock().unwrap()[0].clone();
    assert!(
        request.contains("Content-Type: application/json\r\n"),
        "{request}"
    );
    assert!(
        request.contains("Authorization: Bearer s3cret\r\n"),
        "{request}"
    );
    assert!(request.contains("X-Api-Version: 3\r\n"), "{request}");
    assert!(
        request.contains("Idempotency-Key: inst-1/reminders.sms/0\r\n"),
        "{request}"
    );
    let body: serde_json::Value =
        serde_json::from_str(request.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"dest": "+33612345678", "text": "Merci de \"régler\"", "ref": "inst-1/reminders.sms/0"})
    );
}

#[tokio::test]
async fn a_rate_limit_is_retried_and_a_refusal_is_permanent() {
    let (url, _) = provider(429, "{}").await;
    let sms = SmsChannel::new(&settings(SmsProvider::Form, &url)).unwrap();
    assert!(matches!(
        sms.send(&message("Bonjour")).await,
        Err(SendError::Retryable(_))
    ));

    let (url, _) = provider(400, r#"{"message": "invalid To"}"#).await;
    let sms = SmsChannel::new(&settings(SmsProvider::Form, &url)).unwrap();
    let err = sms.send(&message("Bonjour")).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent(m) if m.contains("invalid To")),
        "{err}"
    );
}

#[tokio::test]
async fn a_text_over_the_segment_limit_is_refused_before_any_request() {
    let (url, seen) = provider(201, "{}").await;
    let sms = SmsChannel::new(&settings(SmsProvider::Form, &url)).unwrap();
    // Two GSM segments hold 306 septets; three UCS-2 segments are needed for 135 `ê`.
    assert!(sms.send(&message(&"a".repeat(306))).await.is_ok());
    let err = sms.send(&message(&"a".repeat(307))).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent(m) if m.contains("3 segments")),
        "{err}"
    );
    assert!(matches!(
        sms.send(&message(&"ê".repeat(135))).await,
        Err(SendError::Permanent(_))
    ));
    assert_eq!(seen.lock().unwrap().len(), 1);

    let mut no_mobile = message("Bonjour");
    no_mobile.to.mobile = None;
    assert!(matches!(
        sms.send(&no_mobile).await,
        Err(SendError::Permanent(_))
    ));
}

#[test]
fn settings_with_a_bad_sender_or_no_credentials_are_refused() {
    let mut s = settings(SmsProvider::Form, "http://127.0.0.1:9/sms");
    s.sender_id = "ACME Collections".into();
    assert!(SmsChannel::new(&s).is_err());
    let mut s = settings(SmsProvider::Form, "http://127.0.0.1:9/sms");
    s.token = None;
    assert!(SmsChannel::new(&s).is_err());
    let mut s = settings(SmsProvider::Json, "http://127.0.0.1:9/sms");
    s.json_body_template = Some("{{#each}}".into());
    assert!(SmsChannel::new(&s).is_err());
}

#[tokio::test]
async fn an_internal_address_is_refused_unless_allowed() {
    let mut s = settings(SmsProvider::Form, "http://127.0.0.1:9/sms");
    s.allow_loopback = false;
    let sms = SmsChannel::new(&s).unwrap();
    assert!(matches!(
        sms.send(&message("Bonjour")).await,
        Err(SendError::Permanent(_))
    ));
}

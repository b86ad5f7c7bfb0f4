//! The HTTP adapters over TLS: an `https://` provider on 127.0.0.1 with a certificate from a
//! test authority is refused until that authority is trusted (`channels.tls_ca_file`), then
//! reached, with the request intact.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use relance::channels::{
    Channel as _, Delivery, HttpChannel, HttpSettings, Message, MessageKind, Recipient, SendError,
    trust_ca_file,
};
use relance::scenario::Channel;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

fn tls_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support/tls")
        .join(name)
}

/// An HTTPS provider answering 201 with an id; keeps the requests it read.
async fn provider() -> (u16, Arc<Mutex<Vec<String>>>) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(tls_file("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(tls_file("server.key")).unwrap();
    let config = ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                // A client that does not trust us aborts the handshake: nothing to serve.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = tls.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf).into_owned());
                let body = r#"{"id":"tls-1"}"#;
                let answer = format!(
                    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, seen)
}

fn message() -> Message {
    Message {
        key: "acme/D-1001/reminder/1".into(),
        case_id: "acme/D-1001".into(),
        channel: Channel::Email,
        template: Some("reminder_email".into()),
        language: "fr".into(),
        subject: Some("Relance".into()),
        body: "Bonjour,\nvotre facture est échue.\n".into(),
        to: Recipient {
            name: "Boulangerie Martin SARL".into(),
            email: Some("compta@boulangerie-martin.example".into()),
            ..Recipient::default()
        },
        attachments: vec![],
        kind: MessageKind::Send,
        payload: serde_json::Value::Null,
    }
}

// One test, in order: the authorities trusted are process-wide.
#[tokio::test]
async fn an_https_provider_is_reached_once_its_authority_is_trusted() {
    let (port, seen) = provider().await;
    let channel = HttpChannel::new(&HttpSettings {
        url: format!("https://localhost:{port}/v1/send"),
        timeout: Duration::from_secs(5),
        allow_loopback: true,
    })
    .unwrap();

    // The built-in roots do not know the test authority.
    match channel.send(&message()).await {
        Err(SendError::Permanent(reason)) => assert!(reason.contains("TLS"), "{reason}"),
        other => panic!("expected a refused certificate, got {other:?}"),
    }
    // Another authority does not help either.
    trust_ca_file(&tls_file("other-ca.pem")).unwrap();
    assert!(matches!(
        channel.send(&message()).await,
        Err(SendError::Permanent(_))
    ));
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent in clear");

    trust_ca_file(&tls_file("ca.pem")).unwrap();
    assert_eq!(
        channel.send(&message()).await,
        Ok(Delivery::Sent {
            provider_id: Some("tls-1".into())
        })
    );
    let requests = seen.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert!(
        request.starts_with("POST /v1/send HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(request.contains(&format!("Host: localhost:{port}\r\n")));
    assert!(request.contains("Idempotency-Key: acme/D-1001/reminder/1\r\n"));
    assert!(request.contains("votre facture est échue"));
}

#[test]
fn a_ca_file_that_is_not_pem_is_refused_with_its_name() {
    let err = trust_ca_file(&tls_file("server.key"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.key"), "{err}");
    let err = trust_ca_file(&tls_file("missing.pem"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.pem"), "{err}");
}

//! The `webhook` adapter: signed JSON deliveries to partners (collection agents, bailiffs,
//! lawyers, credit insurers) following the Standard Webhooks convention, and the signing and
//! verification functions behind it.
//!
//! This module owns the signature scheme and the delivery envelope. It never retries (the
//! dispatcher decides) and posts through the shared HTTP endpoint, so it follows no redirect
//! and refuses internal addresses unless allowed.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{KeyInit, Mac};
use serde_json::json;
use sha2_hmac::Sha256;

use super::http::{Endpoint, classify};
use super::{Channel, Delivery, HttpError, Message, SendError};

type HmacSha256 = hmac::Hmac<Sha256>;

/// The prefix of a Standard Webhooks secret.
const SECRET_PREFIX: &str = "whsec_";

/// How far a receiver lets a timestamp drift from its clock, by default.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// What can be wrong with a webhook secret, settings or signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The secret is not `whsec_` followed by base64.
    #[error("webhook secret: {0}")]
    BadSecret(String),
    /// The partner URL is not usable.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The `webhook-timestamp` is not unix seconds.
    #[error("webhook-timestamp {0}")]
    BadTimestamp(String),
    /// The `webhook-timestamp` is older than the tolerance allows.
    #[error("webhook-timestamp {timestamp} is more than {tolerance}s before now ({now})")]
    StaleTimestamp {
        timestamp: i64,
        now: i64,
        tolerance: u64,
    },
    /// The `webhook-timestamp` is further ahead than the tolerance allows.
    #[error("webhook-timestamp {timestamp} is more than {tolerance}s after now ({now})")]
    FutureTimestamp {
        timestamp: i64,
        now: i64,
        tolerance: u64,
    },
    /// `webhook-signature` is empty.
    #[error("webhook-signature is empty")]
    EmptySignature,
    /// Every `v1,` signature is unreadable: not base64, or not 32 bytes long.
    #[error("webhook-signature {0}")]
    MalformedSignature(String),
    /// `webhook-signature` has no `v1,` signature at all (only other versions).
    #[error("webhook-signature has no v1 signature (found {0})")]
    UnsupportedSignature(String),
    /// No `v1,` signature in `webhook-signature` matches the body.
    #[error("no webhook-signature matches the body")]
    BadSignature,
}

/// A Standard Webhooks signing secret: the key bytes behind `whsec_<base64>`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// Reads `whsec_<base64>`; a secret without the prefix is taken as base64 too.
    pub fn parse(text: &str) -> Result<WebhookSecret, WebhookError> {
        let text = text.trim();
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let key = BASE64
            .decode(encoded)
            .map_err(|e| WebhookError::BadSecret(format!("expected whsec_<base64>: {e}")))?;
        if key.is_empty() {
            return Err(WebhookError::BadSecret("the key is empty".into()));
        }
        Ok(WebhookSecret(key))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        // HMAC takes a key of any length, so this cannot fail.
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The `webhook-signature` value for a delivery: `v1,<base64 HMAC-SHA256>` of
/// `"{id}.{timestamp}.{body}"`.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret.mac(id, timestamp, body).finalize().into_bytes();
    format!("v1,{}", BASE64.encode(tag))
}

/// Checks a delivery as a receiver would: the timestamp is within `tolerance` of `now`
/// (unix seconds) and one of the space-separated `v1,` signatures matches, compared in
/// constant time.
pub fn verify(
    secret: &WebhookSecret,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), WebhookError> {
    verify_any(
        std::slice::from_ref(secret),
        id,
        timestamp,
        signatures,
        body,
        now,
        tolerance,
    )
}

/// [`verify`] with several secrets, as during a secret rotation: the delivery is accepted
/// when any `v1,` signature matches under any secret. The timestamp is checked first; a
/// refusal names why (empty, unreadable, another version only, no match).
pub fn verify_any(
    secrets: &[WebhookSecret],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), WebhookError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::BadTimestamp(format!("`{timestamp}` is not unix seconds")))?;
    let tolerance = tolerance.as_secs();
    if now.abs_diff(ts) > tolerance {
        return Err(if ts < now {
            WebhookError::StaleTimestamp {
                timestamp: ts,
                now,
                tolerance,
            }
        } else {
            WebhookError::FutureTimestamp {
                timestamp: ts,
                now,
                tolerance,
            }
        });
    }
    if signatures.trim().is_empty() {
        return Err(WebhookError::EmptySignature);
    }

    let mut readable = 0;
    let mut unreadable = None;
    let mut others = Vec::new();
    for candidate in signatures.split_whitespace() {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            others.push(candidate.split(',').next().unwrap_or_default().to_string());
            continue;
        };
        let tag = match BASE64.decode(encoded) {
            Ok(tag) if tag.len() == TAG_LEN => tag,
            Ok(tag) => {
                unreadable = Some(format!(
                    "`v1,{encoded}` decodes to {} bytes, an HMAC-SHA256 is {TAG_LEN}",
                    tag.len()
                ));
                continue;
            }
            Err(e) => {
                unreadable = Some(format!("`v1,{encoded}` is not base64: {e}"));
                continue;
            }
        };
        readable += 1;
        if secrets
            .iter()
            .any(|secret| secret.mac(id, ts, body).verify_slice(&tag).is_ok())
        {
            return Ok(());
        }
    }
    match unreadable {
        _ if readable > 0 => Err(WebhookError::BadSignature),
        Some(why) => Err(WebhookError::MalformedSignature(why)),
        None => Err(WebhookError::UnsupportedSignature(others.join(", "))),
    }
}

/// The length of an HMAC-SHA256 tag, in bytes.
const TAG_LEN: usize = 32;

/// How the `webhook` adapter reaches its partner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    /// `http://host[:port][/path]`.
    pub url: String,
    /// The signing secret, `whsec_<base64>` (read from the variable `secret_env` names).
    pub secret: String,
    pub timeout: Duration,
    /// Allows loopback and private addresses (tests, a partner on the same network).
    pub allow_loopback: bool,
}

/// Posts handover and claim files to one partner URL, signed. See the module documentation.
#[derive(Clone, Debug)]
pub struct WebhookChannel {
    endpoint: Endpoint,
    secret: WebhookSecret,
    /// Unix seconds now; replaceable for tests.
    clock: fn() -> i64,
}

impl WebhookChannel {
    /// An adapter for `settings`; the URL and the secret are checked now.
    pub fn new(settings: &WebhookSettings) -> Result<Self, WebhookError> {
        Ok(WebhookChannel {
            endpoint: Endpoint::new(&settings.url, settings.timeout, settings.allow_loopback)?,
            secret: WebhookSecret::parse(&settings.secret)?,
            clock: || chrono::Utc::now().timestamp(),
        })
    }

    /// The same adapter, stamping deliveries with `clock` (unix seconds) instead of the
    /// system time.
    pub fn with_clock(mut self, clock: fn() -> i64) -> Self {
        self.clock = clock;
        self
    }

    async fn deliver(&self, msg: &Message) -> Result<Delivery, SendError> {
        let timestamp = (self.clock)();
        let body = serde_json::to_vec(&envelope(msg, timestamp))
            .map_err(|e| SendError::Permanent(format!("cannot encode the delivery: {e}")))?;
        let headers = [
            ("webhook-id".to_string(), msg.key.clone()),
            ("webhook-timestamp".to_string(), timestamp.to_string()),
            (
                "webhook-signature".to_string(),
                sign(&self.secret, &msg.key, timestamp, &body),
            ),
            ("Idempotency-Key".to_string(), msg.key.clone()),
        ];
        let (status, answer) = self
            .endpoint
            .post("application/json", &headers, &body)
            .await?;
        classify(status, &answer)
    }
}

/// The JSON a partner receives: `type` (`case.handover`, `case.claim`, `case.task`,
/// `message.send`), `timestamp` (RFC 3339) and `data` (the key, the case, the partner and
/// the whole file of the message payload).
pub fn envelope(msg: &Message, timestamp: i64) -> serde_json::Value {
    let kind = match msg.kind {
        super::MessageKind::Handover => "case.handover",
        super::MessageKind::Claim => "case.claim",
        super::MessageKind::Task => "case.task",
        super::MessageKind::Send => "message.send",
    };
    let at = chrono::DateTime::from_timestamp(timestamp, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    json!({
        "type": kind,
        "timestamp": at,
        "data": {
            "key": msg.key,
            "case_id": msg.case_id,
            "channel": msg.channel.name(),
            "partner": msg.to.partner,
            "template": msg.template,
            "subject": msg.subject,
            "body": msg.body,
            "attachments": msg.attachments,
            "file": msg.payload,
        }
    })
}

impl Channel for WebhookChannel {
    fn name(&self) -> &str {
        "webhook"
    }

    async fn send(&self, msg: &Message) -> Result<Delivery, SendError> {
        let result = self.deliver(msg).await;
        super::log_outcome(msg, &result, "partner webhook");
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signing_the_published_test_vector_gives_its_signature() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(sign(&secret, ID, TS, BODY), SIGNATURE);
    }

    #[test]
    fn verification_accepts_the_vector_and_refuses_any_change() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let tol = DEFAULT_TOLERANCE;
        let ts = TS.to_string();
        assert_eq!(
            verify(&secret, ID, &ts, SIGNATURE, BODY, TS + 10, tol),
            Ok(())
        );
        let several = format!("v1,bm90IGl0 {SIGNATURE}");
        assert_eq!(verify(&secret, ID, &ts, &several, BODY, TS, tol), Ok(()));
        assert_eq!(
            verify(&secret, ID, &ts, SIGNATURE, b"{\"test\": 1}", TS, tol),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(&secret, "msg_other", &ts, SIGNATURE, BODY, TS, tol),
            Err(WebhookError::BadSignature)
        );
        assert!(matches!(
            verify(&secret, ID, &ts, SIGNATURE, BODY, TS + 3600, tol),
            Err(WebhookError::StaleTimestamp { .. })
        ));
        assert!(matches!(
            verify(&secret, ID, &ts, SIGNATURE, BODY, TS - 3600, tol),
            Err(WebhookError::FutureTimestamp { .. })
        ));
        assert!(matches!(
            verify(&secret, ID, "soon", SIGNATURE, BODY, TS, tol),
            Err(WebhookError::BadTimestamp(_))
        ));
    }

    #[test]
    fn a_secret_that_is_not_base64_is_refused() {
        assert!(WebhookSecret::parse("whsec_!!!").is_err());
        assert!(WebhookSecret::parse("whsec_").is_err());
        assert!(format!("{:?}", WebhookSecret::parse(SECRET).unwrap()).contains(".."));
    }
}

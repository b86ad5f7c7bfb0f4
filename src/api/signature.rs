//! Verifying an incoming partner webhook on its raw body bytes, before anything parses it:
//! Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`, `webhook-signature`) and
//! Stripe's `Stripe-Signature` header, each with several secrets during a rotation.
//!
//! This module owns the headers, the secrets and the typed reasons a delivery is refused
//! (each with a stable problem code). It never reads the body as JSON and stores nothing;
//! the Standard Webhooks arithmetic itself is the `webhook` channel's, shared with signing.

use std::time::Duration;

use axum::http::HeaderMap;
use hmac::{KeyInit, Mac};
use sha2_hmac::Sha256;

use crate::channels::{WebhookError, WebhookSecret, verify_any};

type HmacSha256 = hmac::Hmac<Sha256>;

/// How far a delivery's timestamp may be from now, either way.
pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The prefix every configured secret carries (Standard Webhooks and Stripe alike).
const SECRET_PREFIX: &str = "whsec_";

/// The Stripe header.
pub const STRIPE_HEADER: &str = "stripe-signature";

/// Why a delivery was refused. Each reason has a stable code ([`SignatureError::code`]),
/// which the API answers as a 401 problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header the scheme needs is absent.
    #[error("the `{header}` header is missing")]
    Missing { header: &'static str },
    /// The signature header is there but empty.
    #[error("the `{header}` header is empty")]
    Empty { header: &'static str },
    /// The signature header cannot be read: bad base64 or hex, a wrong length, a broken
    /// `key=value` list, or bytes that are not text.
    #[error("the `{header}` header is malformed: {reason}")]
    Malformed {
        header: &'static str,
        reason: String,
    },
    /// The signature header carries only versions this scheme does not use (`v2,`, `v0=`).
    #[error("no v1 signature, only {found}")]
    Unsupported { found: String },
    /// The timestamp is not unix seconds.
    #[error("the timestamp `{value}` is not unix seconds")]
    TimestampInvalid { value: String },
    /// The timestamp is more than the tolerance before now: an old or replayed delivery.
    #[error("the timestamp {timestamp} is more than {tolerance}s before now ({now})")]
    Stale {
        timestamp: i64,
        now: i64,
        tolerance: u64,
    },
    /// The timestamp is more than the tolerance after now.
    #[error("the timestamp {timestamp} is more than {tolerance}s after now ({now})")]
    Future {
        timestamp: i64,
        now: i64,
        tolerance: u64,
    },
    /// Well-formed signatures, none of which matches the body under any secret.
    #[error("no signature matches the body under any configured secret")]
    Mismatch,
}

impl SignatureError {
    /// The stable problem code of this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Missing { .. } => "signature_missing",
            SignatureError::Empty { .. } => "signature_empty",
            SignatureError::Malformed { .. } => "signature_malformed",
            SignatureError::Unsupported { .. } => "signature_unsupported",
            SignatureError::TimestampInvalid { .. } => "timestamp_invalid",
            SignatureError::Stale { .. } => "timestamp_stale",
            SignatureError::Future { .. } => "timestamp_future",
            SignatureError::Mismatch => "signature_mismatch",
        }
    }
}

/// Every refusal code, for documentation and tests.
pub const SIGNATURE_CODES: &[&str] = &[
    "signature_missing",
    "signature_empty",
    "signature_malformed",
    "signature_unsupported",
    "timestamp_invalid",
    "timestamp_stale",
    "timestamp_future",
    "signature_mismatch",
];

/// A configured secret that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("expected `whsec_` followed by the secret")]
    NoPrefix,
    #[error("{0}")]
    Unreadable(String),
}

/// A Stripe endpoint secret. Stripe keys its HMAC with the whole secret text, prefix
/// included, not with decoded bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct StripeSecret(Vec<u8>);

impl std::fmt::Debug for StripeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StripeSecret(..)")
    }
}

impl StripeSecret {
    /// Reads `whsec_…`.
    pub fn parse(text: &str) -> Result<StripeSecret, SecretError> {
        let text = text.trim();
        match text.strip_prefix(SECRET_PREFIX) {
            Some(rest) if !rest.is_empty() => Ok(StripeSecret(text.as_bytes().to_vec())),
            Some(_) => Err(SecretError::Unreadable(
                "the secret after `whsec_` is empty".into(),
            )),
            None => Err(SecretError::NoPrefix),
        }
    }

    fn mac(&self, timestamp: i64, body: &[u8]) -> HmacSha256 {
        // HMAC takes a key of any length, so this cannot fail.
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// Reads a Standard Webhooks secret, which must be `whsec_<base64>` (the prefix is not
/// optional here, unlike for the outgoing adapter, so that a secret pasted from the wrong
/// place is caught at start).
pub fn standard_secret(text: &str) -> Result<WebhookSecret, SecretError> {
    if !text.trim().starts_with(SECRET_PREFIX) {
        return Err(SecretError::NoPrefix);
    }
    WebhookSecret::parse(text).map_err(|e| SecretError::Unreadable(e.to_string()))
}

/// The `Stripe-Signature` value for a body: `t=<ts>,v1=<hex HMAC-SHA256 of "ts.body">`.
pub fn sign_stripe(secret: &StripeSecret, timestamp: i64, body: &[u8]) -> String {
    let tag = secret.mac(timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", to_hex(&tag))
}

/// Checks a `Stripe-Signature` header against `body`: one `t=` within `tolerance` of `now`
/// (either way), and one `v1=` matching under one of `secrets`, compared in constant time
/// on the decoded bytes. Returns the signed timestamp.
pub fn verify_stripe(
    secrets: &[StripeSecret],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<i64, SignatureError> {
    let malformed = |reason: String| SignatureError::Malformed {
        header: STRIPE_HEADER,
        reason,
    };
    if header.trim().is_empty() {
        return Err(SignatureError::Empty {
            header: STRIPE_HEADER,
        });
    }

    let mut timestamp = None;
    let mut tags = Vec::new();
    let mut others = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.split_once('=') else {
            return Err(malformed(format!("`{}` is not key=value", item.trim())));
        };
        match key.trim() {
            "t" if timestamp.is_some() => return Err(malformed("two `t=` values".into())),
            "t" => timestamp = Some(value.trim()),
            "v1" => {
                let value = value.trim();
                let tag = from_hex(value)
                    .ok_or_else(|| malformed(format!("`v1={value}` is not hexadecimal")))?;
                if tag.len() != 32 {
                    return Err(malformed(format!(
                        "`v1={value}` is {} bytes, an HMAC-SHA256 is 32",
                        tag.len()
                    )));
                }
                tags.push(tag);
            }
            other => others.push(format!("{other}=")),
        }
    }
    let Some(value) = timestamp else {
        return Err(malformed("no `t=` timestamp".into()));
    };
    let ts = check_timestamp(value, now, tolerance)?;
    if tags.is_empty() {
        return Err(SignatureError::Unsupported {
            found: if others.is_empty() {
                "nothing".into()
            } else {
                others.join(", ")
            },
        });
    }

    let matches = tags.iter().any(|tag| {
        secrets
            .iter()
            .any(|secret| secret.mac(ts, body).verify_slice(tag).is_ok())
    });
    if matches {
        Ok(ts)
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Checks Standard Webhooks headers against `body`; returns the delivery id (`webhook-id`).
pub fn verify_standard(
    secrets: &[WebhookSecret],
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<String, SignatureError> {
    let id = header(headers, "webhook-id")?;
    let timestamp = header(headers, "webhook-timestamp")?;
    let signature = header(headers, "webhook-signature")?;
    if id.trim().is_empty() {
        return Err(SignatureError::Empty {
            header: "webhook-id",
        });
    }
    verify_any(secrets, id, timestamp, signature, body, now, tolerance).map_err(|e| match e {
        WebhookError::BadTimestamp(_) => SignatureError::TimestampInvalid {
            value: timestamp.to_string(),
        },
        WebhookError::StaleTimestamp {
            timestamp,
            now,
            tolerance,
        } => SignatureError::Stale {
            timestamp,
            now,
            tolerance,
        },
        WebhookError::FutureTimestamp {
            timestamp,
            now,
            tolerance,
        } => SignatureError::Future {
            timestamp,
            now,
            tolerance,
        },
        WebhookError::EmptySignature => SignatureError::Empty {
            header: "webhook-signature",
        },
        WebhookError::MalformedSignature(reason) => SignatureError::Malformed {
            header: "webhook-signature",
            reason,
        },
        WebhookError::UnsupportedSignature(found) => SignatureError::Unsupported { found },
        WebhookError::BadSignature | WebhookError::BadSecret(_) | WebhookError::Http(_) => {
            SignatureError::Mismatch
        }
    })?;
    Ok(id.to_string())
}

/// How one source signs, with the secrets it may use.
#[derive(Clone, Debug)]
pub enum Verifier {
    Standard(Vec<WebhookSecret>),
    Stripe(Vec<StripeSecret>),
}

/// What verification vouches for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The delivery id from the headers (`webhook-id`); Stripe carries it in the body.
    pub delivery_id: Option<String>,
}

impl Verifier {
    /// Checks `headers` and the raw `body` at `now` (unix seconds).
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<Verified, SignatureError> {
        match self {
            Verifier::Standard(secrets) => {
                let id = verify_standard(secrets, headers, body, now, TOLERANCE)?;
                Ok(Verified {
                    delivery_id: Some(id),
                })
            }
            Verifier::Stripe(secrets) => {
                let value = header(headers, STRIPE_HEADER)?;
                verify_stripe(secrets, value, body, now, TOLERANCE)?;
                Ok(Verified { delivery_id: None })
            }
        }
    }
}

/// A header as text; absent is `Missing`, non-text bytes are `Malformed`.
fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, SignatureError> {
    let value = headers
        .get(name)
        .ok_or(SignatureError::Missing { header: name })?;
    value.to_str().map_err(|_| SignatureError::Malformed {
        header: name,
        reason: "not visible ASCII".into(),
    })
}

fn check_timestamp(value: &str, now: i64, tolerance: Duration) -> Result<i64, SignatureError> {
    let ts: i64 = value
        .parse()
        .map_err(|_| SignatureError::TimestampInvalid {
            value: value.to_string(),
        })?;
    let tolerance = tolerance.as_secs();
    if now.abs_diff(ts) <= tolerance {
        Ok(ts)
    } else if ts < now {
        Err(SignatureError::Stale {
            timestamp: ts,
            now,
            tolerance,
        })
    } else {
        Err(SignatureError::Future {
            timestamp: ts,
            now,
            tolerance,
        })
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes hexadecimal digits (either case); `None` for anything else or an odd length.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.is_empty()
        || !text.len().is_multiple_of(2)
        || !text.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn hex_decoding_refuses_odd_lengths_signs_and_other_letters() {
        assert_eq!(from_hex("0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("+f"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex(""), None);
        assert_eq!(to_hex(&[0, 0xab]), "00ab");
    }

    #[test]
    fn a_stripe_signature_round_trips_and_any_change_is_refused() {
        let secret = StripeSecret::parse("whsec_abc").unwrap();
        let header = sign_stripe(&secret, NOW, b"{}");
        let secrets = [secret];
        assert_eq!(
            verify_stripe(&secrets, &header, b"{}", NOW, TOLERANCE),
            Ok(NOW)
        );
        assert_eq!(
            verify_stripe(&secrets, &header, b"{ }", NOW, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_stripe(&secrets, &header, b"{}", NOW + 301, TOLERANCE)
                .unwrap_err()
                .code(),
            "timestamp_stale"
        );
    }

    #[test]
    fn secrets_without_their_prefix_are_refused() {
        assert_eq!(StripeSecret::parse("abc"), Err(SecretError::NoPrefix));
        assert!(StripeSecret::parse("whsec_").is_err());
        assert_eq!(
            standard_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            SecretError::NoPrefix
        );
        assert!(standard_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert!(format!("{:?}", StripeSecret::parse("whsec_x").unwrap()).contains(".."));
    }

    #[test]
    fn every_refusal_has_one_of_the_documented_codes() {
        let all = [
            SignatureError::Missing { header: "h" },
            SignatureError::Empty { header: "h" },
            SignatureError::Malformed {
                header: "h",
                reason: String::new(),
            },
            SignatureError::Unsupported {
                found: String::new(),
            },
            SignatureError::TimestampInvalid {
                value: String::new(),
            },
            SignatureError::Stale {
                timestamp: 0,
                now: 0,
                tolerance: 0,
            },
            SignatureError::Future {
                timestamp: 0,
                now: 0,
                tolerance: 0,
            },
            SignatureError::Mismatch,
        ];
        let codes: Vec<_> = all.iter().map(SignatureError::code).collect();
        assert_eq!(codes, SIGNATURE_CODES);
    }
}

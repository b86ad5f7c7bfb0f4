//! What the JSON provider adapters (`post`, `fax`, `voice`, `message`) share: their
//! settings, the bearer token and idempotency key on every request, and reading the
//! provider's id (or tracking number) out of its answer.
//!
//! This module owns that wire convention and nothing else: each adapter builds its own body,
//! and every request goes through the shared HTTP endpoint, so none follows a redirect or
//! reaches an internal address unless allowed, and each has a deadline.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::http::{Endpoint, classify};
use super::{Delivery, HttpError, SendError};

/// How an adapter reaches its provider's JSON API.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// `http://host[:port][/path]`.
    pub url: String,
    /// Sent as `Authorization: Bearer …`; none sends no `Authorization` header.
    pub api_key: Option<String>,
    /// What the debtor sees as the sender: the fax header number, the caller id of a call,
    /// the sender name of a message. Unused by `post` (the letterhead is the brand).
    pub sender: Option<String>,
    /// The whole exchange (connect, write, answer) must fit in this time.
    pub timeout: Duration,
    /// Allows loopback and private addresses (tests, a provider on the same network).
    pub allow_loopback: bool,
}

impl fmt::Debug for ApiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiSettings")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("sender", &self.sender)
            .field("timeout", &self.timeout)
            .field("allow_loopback", &self.allow_loopback)
            .finish()
    }
}

/// Settings a JSON provider adapter cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The URL is not `http://host[:port][/path]`.
    #[error("{setting} `{url}`: {reason}")]
    BadUrl {
        /// The setting's path, `channels.post.url`.
        setting: &'static str,
        url: String,
        reason: String,
    },
}

/// One provider's JSON API. See the module documentation.
#[derive(Clone, Debug)]
pub(crate) struct JsonApi {
    endpoint: Endpoint,
    authorization: Option<String>,
}

impl JsonApi {
    /// An API for `settings`; `setting` names the URL's setting in errors.
    pub(crate) fn new(settings: &ApiSettings, setting: &'static str) -> Result<Self, ApiError> {
        let endpoint = Endpoint::new(&settings.url, settings.timeout, settings.allow_loopback)
            .map_err(|err| match err {
                HttpError::BadUrl { url, reason } => ApiError::BadUrl {
                    setting,
                    url,
                    reason,
                },
            })?;
        let authorization = settings
            .api_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| format!("Bearer {k}"));
        Ok(JsonApi {
            endpoint,
            authorization,
        })
    }

    /// POSTs `body` with the idempotency `key`; the answer becomes a [`Delivery`] whose
    /// provider id is the first of `id_fields` the answer holds.
    pub(crate) async fn send(
        &self,
        key: &str,
        body: &Value,
        id_fields: &[&str],
    ) -> Result<Delivery, SendError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| SendError::Permanent(format!("cannot encode the request: {e}")))?;
        let mut headers = vec![("Idempotency-Key".to_string(), key.to_string())];
        if let Some(auth) = &self.authorization {
            headers.push(("Authorization".to_string(), auth.clone()));
        }
        let (status, answer) = self
            .endpoint
            .post("application/json", &headers, &bytes)
            .await?;
        delivery(status, &answer, id_fields)
    }
}

/// What a provider's answer means. A success, or a `409` for a key the provider already
/// has, gives the provider's id when the answer names one (so that a retried letter still
/// records its tracking number); a `409` without one is a duplicate; the rest is
/// [`classify`]'s.
pub(crate) fn delivery(
    status: u16,
    body: &[u8],
    id_fields: &[&str],
) -> Result<Delivery, SendError> {
    let id = || -> Option<String> {
        let value: Value = serde_json::from_slice(body).ok()?;
        id_fields.iter().find_map(|field| match value.get(*field)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    match status {
        200..=299 => Ok(Delivery::Sent { provider_id: id() }),
        409 => Ok(match id() {
            Some(provider_id) => Delivery::Sent {
                provider_id: Some(provider_id),
            },
            None => Delivery::Duplicate,
        }),
        _ => classify(status, body),
    }
}

/// A phone or fax number as providers take it, E.164: `+`, then 8 to 15 digits, the first
/// not zero. Spaces, dots, dashes and brackets people write are dropped; anything else makes
/// it no number.
pub(crate) fn e164(number: &str) -> Option<String> {
    let compact: String = number
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')' | '\u{a0}'))
        .collect();
    let digits = compact.strip_prefix('+')?;
    let ok = (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    ok.then_some(compact)
}

/// A document as the JSON providers take it: name, content type and base64 bytes.
pub(crate) fn document_json(doc: &super::Document) -> Value {
    use base64::Engine as _;

    serde_json::json!({
        "name": doc.name,
        "content_type": doc.content_type,
        "content_base64": base64::engine::general_purpose::STANDARD.encode(&doc.bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compacted_to_e164_or_refused() {
        assert_eq!(e164("+33 4 78 00 00 00").as_deref(), Some("+33478000000"));
        assert_eq!(e164("+33 (0)4.78").as_deref(), None, "too short");
        assert_eq!(e164("04 78 00 00 00"), None, "no country code");
        assert_eq!(e164("+33 4 78 00 00 0x"), None);
    }

    #[test]
    fn the_first_id_field_present_names_the_delivery() {
        let fields = ["tracking_number", "id"];
        assert_eq!(
            delivery(201, br#"{"id":"L-1","tracking_number":"RR12"}"#, &fields),
            Ok(Delivery::Sent {
                provider_id: Some("RR12".into())
            })
        );
        assert_eq!(
            delivery(200, br#"{"id":7}"#, &fields),
            Ok(Delivery::Sent {
                provider_id: Some("7".into())
            })
        );
        assert_eq!(
            delivery(200, b"queued", &fields),
            Ok(Delivery::Sent { provider_id: None })
        );
    }

    #[test]
    fn a_known_key_keeps_its_tracking_number_or_is_a_duplicate() {
        let fields = ["tracking_number"];
        assert_eq!(
            delivery(409, br#"{"tracking_number":"RR12"}"#, &fields),
            Ok(Delivery::Sent {
                provider_id: Some("RR12".into())
            })
        );
        assert_eq!(delivery(409, b"", &fields), Ok(Delivery::Duplicate));
    }

    #[test]
    fn refusals_and_outages_map_as_for_every_http_provider() {
        assert!(matches!(
            delivery(401, b"", &["id"]),
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(
            delivery(422, b"", &["id"]),
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(
            delivery(503, b"", &["id"]),
            Err(SendError::Retryable(_))
        ));
        assert!(matches!(
            delivery(429, b"", &["id"]),
            Err(SendError::Retryable(_))
        ));
    }

    #[test]
    fn the_api_key_never_shows_in_debug_output() {
        let settings = ApiSettings {
            url: "http://post.example/v1/letters".into(),
            api_key: Some("k-s3cret".into()),
            sender: None,
            timeout: Duration::from_secs(1),
            allow_loopback: false,
        };
        assert!(!format!("{settings:?}").contains("s3cret"));
        assert!(matches!(
            JsonApi::new(
                &ApiSettings {
                    url: "ftp://x".into(),
                    ..settings
                },
                "channels.post.url"
            ),
            Err(ApiError::BadUrl {
                setting: "channels.post.url",
                ..
            })
        ));
    }
}

//! The `sms` adapter: text messages through an HTTP provider API, either a form-encoded API
//! in the style of Twilio (`To`, `From`, `Body`, Basic auth) or a generic JSON API whose body
//! and headers are configured; and the checks every SMS passes first (the sender id, the
//! segment count).
//!
//! This module owns the wire format of those two provider kinds and the SMS length rules. It
//! never retries (the dispatcher decides) and posts through the shared HTTP endpoint, so it
//! follows no redirect and refuses internal addresses unless allowed.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use handlebars::Handlebars;
use serde_json::json;

use super::http::{Endpoint, classify};
use super::{Channel, Delivery, HttpError, Message, SendError};

/// The GSM 03.38 basic character set (without the escape character itself).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                          ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// Characters of the GSM 03.38 extension table: each takes two septets.
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{c}";

/// The maximum number of segments when the configuration does not say.
pub const DEFAULT_MAX_SEGMENTS: u32 = 3;

/// What can be wrong with the SMS settings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    /// The sender id is neither 1 to 11 letters and digits nor an E.164 number.
    #[error(
        "channels.sms.sender_id `{0}`: expected 1 to 11 letters and digits (with at least one \
         letter) or an E.164 number such as +33612345678"
    )]
    BadSenderId(String),
    /// The form provider needs an account and a token for Basic auth.
    #[error("channels.sms: the form provider needs account_env and token_env set and non-empty")]
    MissingCredentials,
    /// The JSON body template does not compile.
    #[error("channels.sms.json_body_template: {0}")]
    BadTemplate(String),
    /// `max_segments` is zero.
    #[error("channels.sms.max_segments must be at least 1")]
    BadMaxSegments,
    /// The provider URL is not usable.
    #[error(transparent)]
    Http(#[from] HttpError),
}

/// Which kind of API the provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsProvider {
    /// `application/x-www-form-urlencoded` with `To`, `From`, `Body` and Basic auth
    /// (Twilio's Messages API and its look-alikes).
    Form,
    /// A JSON body rendered from a template, with configured headers.
    Json,
}

/// How the `sms` adapter reaches its provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsSettings {
    pub provider: SmsProvider,
    /// `http://host[:port][/path]`.
    pub url: String,
    /// What the debtor's phone shows as the sender.
    pub sender_id: String,
    /// Account (user) of Basic auth, read from the variable `account_env` names.
    pub account: Option<String>,
    /// Token (password) of Basic auth for `form`; a bearer token for `json` unless the
    /// headers already carry `Authorization`.
    pub token: Option<String>,
    /// The JSON body for `json`, a Handlebars template over `to`, `from`, `body`, `key`,
    /// `case_id` and `segments` (values are JSON-escaped, so write `"{{body}}"`).
    pub json_body_template: Option<String>,
    /// Extra headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// Messages longer than this many segments are refused as permanent failures.
    pub max_segments: u32,
    pub timeout: Duration,
    /// Allows loopback and private addresses (tests, a provider on the same network).
    pub allow_loopback: bool,
}

/// A checked sender id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderId {
    /// 1 to 11 ASCII letters and digits, at least one letter (`ACME`, `Relance24`).
    Alphanumeric(String),
    /// An E.164 number: `+`, then 8 to 15 digits, the first not zero.
    Number(String),
}

impl SenderId {
    pub fn parse(text: &str) -> Result<SenderId, SmsError> {
        let bad = || SmsError::BadSenderId(text.to_string());
        if let Some(digits) = text.strip_prefix('+') {
            let ok = (8..=15).contains(&digits.len())
                && digits.chars().all(|c| c.is_ascii_digit())
                && !digits.starts_with('0');
            return ok
                .then(|| SenderId::Number(text.to_string()))
                .ok_or_else(bad);
        }
        let ok = (1..=11).contains(&text.len())
            && text.chars().all(|c| c.is_ascii_alphanumeric())
            && text.chars().any(|c| c.is_ascii_alphabetic());
        ok.then(|| SenderId::Alphanumeric(text.to_string()))
            .ok_or_else(bad)
    }

    pub fn as_str(&self) -> &str {
        match self {
            SenderId::Alphanumeric(s) | SenderId::Number(s) => s,
        }
    }
}

/// How an SMS text is encoded on the air.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// The GSM 7-bit alphabet: 160 septets in one segment, 153 a segment when split.
    Gsm7,
    /// UCS-2 (UTF-16) as soon as one character is outside GSM 7-bit: 70, then 67.
    Ucs2,
}

/// The length of a text as the network counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segments {
    pub encoding: Encoding,
    /// Septets (GSM 7-bit, extension characters count two) or UTF-16 code units.
    pub units: usize,
    /// Segments (parts of a concatenated SMS) the text takes; an empty text takes one.
    pub count: u32,
}

/// Counts the segments of `text`.
pub fn segments(text: &str) -> Segments {
    let gsm: Option<usize> = text
        .chars()
        .map(|c| {
            if GSM7_BASIC.contains(c) {
                Some(1)
            } else if GSM7_EXTENSION.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (encoding, units, single, multi) = match gsm {
        Some(septets) => (Encoding::Gsm7, septets, 160, 153),
        None => (Encoding::Ucs2, text.encode_utf16().count(), 70, 67),
    };
    // TODO: a GSM 7-bit extension character is never split across two segments by real
    // encoders, which can add a segment in rare cases; this count ignores that.
    let count = if units <= single {
        1
    } else {
        units.div_ceil(multi)
    };
    Segments {
        encoding,
        units,
        count: u32::try_from(count).unwrap_or(u32::MAX),
    }
}

/// Sends text messages through one provider. See the module documentation.
#[derive(Clone, Debug)]
pub struct SmsChannel {
    endpoint: Endpoint,
    provider: SmsProvider,
    sender: SenderId,
    authorization: Option<String>,
    template: Option<String>,
    headers: Vec<(String, String)>,
    max_segments: u32,
}

impl SmsChannel {
    /// An adapter for `settings`; the URL, sender id, credentials and template are checked
    /// now.
    pub fn new(settings: &SmsSettings) -> Result<Self, SmsError> {
        let endpoint = Endpoint::new(&settings.url, settings.timeout, settings.allow_loopback)?;
        let sender = SenderId::parse(&settings.sender_id)?;
        if settings.max_segments == 0 {
            return Err(SmsError::BadMaxSegments);
        }
        let present =
            |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
        let (account, token) = (present(&settings.account), present(&settings.token));
        let has_auth_header = settings
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
        let authorization = match settings.provider {
            SmsProvider::Form => {
                let (Some(account), Some(token)) = (account, token) else {
                    return Err(SmsError::MissingCredentials);
                };
                Some(format!(
                    "Basic {}",
                    BASE64.encode(format!("{account}:{token}"))
                ))
            }
            SmsProvider::Json if has_auth_header => None,
            SmsProvider::Json => match (account, token) {
                (Some(account), Some(token)) => Some(format!(
                    "Basic {}",
                    BASE64.encode(format!("{account}:{token}"))
                )),
                (None, Some(token)) => Some(format!("Bearer {token}")),
                _ => None,
            },
        };
        if let Some(template) = &settings.json_body_template {
            json_registry(template)?;
        }
        Ok(SmsChannel {
            endpoint,
            provider: settings.provider,
            sender,
            authorization,
            template: settings.json_body_template.clone(),
            headers: settings.headers.clone(),
            max_segments: settings.max_segments,
        })
    }

    async fn deliver(&self, msg: &Message) -> Result<Delivery, SendError> {
        let Some(to) = msg.to.mobile.as_deref().filter(|m| !m.trim().is_empty()) else {
            return Err(SendError::Permanent(
                "the debtor has no mobile number to send an SMS to".into(),
            ));
        };
        if msg.body.trim().is_empty() {
            return Err(SendError::Permanent("the SMS text is empty".into()));
        }
        let length = segments(&msg.body);
        if length.count > self.max_segments {
            return Err(SendError::Permanent(format!(
                "the SMS takes {} segments ({} {} units), more than channels.sms.max_segments \
                 ({}); shorten the template",
                length.count,
                length.units,
                match length.encoding {
                    Encoding::Gsm7 => "GSM 7-bit",
                    Encoding::Ucs2 => "UCS-2",
                },
                self.max_segments
            )));
        }

        let (content_type, body) = match self.provider {
            SmsProvider::Form => (
                "application/x-www-form-urlencoded",
                form_encode(&[
                    ("To", to),
                    ("From", self.sender.as_str()),
                    ("Body", &msg.body),
                ]),
            ),
            SmsProvider::Json => ("application/json", self.json_body(msg, to, length)?),
        };
        let mut headers = self.headers.clone();
        if let Some(auth) = &self.authorization {
            headers.push(("Authorization".to_string(), auth.clone()));
        }
        headers.push(("Idempotency-Key".to_string(), msg.key.clone()));
        let (status, answer) = self
            .endpoint
            .post(content_type, &headers, body.as_bytes())
            .await?;
        classify(status, &answer)
    }

    fn json_body(&self, msg: &Message, to: &str, length: Segments) -> Result<String, SendError> {
        let data = json!({
            "to": to,
            "from": self.sender.as_str(),
            "body": msg.body,
            "key": msg.key,
            "case_id": msg.case_id,
            "segments": length.count,
        });
        let Some(template) = &self.template else {
            return Ok(json!({
                "to": to,
                "from": self.sender.as_str(),
                "body": msg.body,
                "reference": msg.key,
            })
            .to_string());
        };
        let registry = json_registry(template)
            .map_err(|e| SendError::Permanent(format!("cannot build the SMS body: {e}")))?;
        registry
            .render("body", &data)
            .map_err(|e| SendError::Permanent(format!("cannot render the SMS body: {e}")))
    }
}

/// A strict Handlebars registry holding `template` as `body`, escaping values for JSON
/// strings.
fn json_registry(template: &str) -> Result<Handlebars<'static>, SmsError> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(json_escape);
    registry
        .register_template_string("body", template)
        .map_err(|e| SmsError::BadTemplate(e.to_string()))?;
    Ok(registry)
}

/// `text` escaped to sit between the quotes of a JSON string.
fn json_escape(text: &str) -> String {
    let quoted = serde_json::Value::String(text.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// `application/x-www-form-urlencoded`: unreserved characters as they are, space as `+`,
/// everything else as `%XX` of its UTF-8 bytes.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Channel for SmsChannel {
    fn name(&self) -> &str {
        "sms"
    }

    async fn send(&self, msg: &Message) -> Result<Delivery, SendError> {
        let result = self.deliver(msg).await;
        super::log_outcome(msg, &result, "sms provider");
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_ids_are_short_alphanumerics_or_e164_numbers() {
        assert!(matches!(
            SenderId::parse("ACME"),
            Ok(SenderId::Alphanumeric(_))
        ));
        assert!(SenderId::parse("Relance2026").is_ok());
        assert!(matches!(
            SenderId::parse("+33612345678"),
            Ok(SenderId::Number(_))
        ));
        for bad in [
            "",
            "TwelveChars1",
            "ACME SAS",
            "12345",
            "+0612345678",
            "+33-6",
            "Acmé",
        ] {
            assert!(SenderId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn gsm_texts_take_160_then_153_septets_a_segment() {
        assert_eq!(segments("").count, 1);
        assert_eq!(segments(&"a".repeat(160)).count, 1);
        assert_eq!(segments(&"a".repeat(161)).count, 2);
        assert_eq!(segments(&"a".repeat(306)).count, 2);
        assert_eq!(segments(&"a".repeat(307)).count, 3);
        let euro = segments("Payez 12 € à l'échéance");
        assert_eq!(euro.encoding, Encoding::Gsm7);
        assert_eq!(euro.units, 24, "the euro sign takes two septets");
    }

    #[test]
    fn one_character_outside_gsm_switches_to_ucs2_with_70_then_67() {
        let s = segments(&format!("{}ç", "a".repeat(69)));
        assert_eq!((s.encoding, s.units, s.count), (Encoding::Ucs2, 70, 1));
        assert_eq!(segments(&format!("{}ç", "a".repeat(70))).count, 2);
        assert_eq!(segments(&"ê".repeat(134)).count, 2);
        assert_eq!(segments(&"ê".repeat(135)).count, 3);
        assert_eq!(segments("😀").units, 2, "an emoji is two UTF-16 units");
    }

    #[test]
    fn form_values_are_percent_encoded() {
        assert_eq!(
            form_encode(&[("To", "+33612345678"), ("Body", "Bonjour, 12 €&co")]),
            "To=%2B33612345678&Body=Bonjour%2C+12+%E2%82%AC%26co"
        );
    }

    #[test]
    fn json_template_values_are_escaped_for_json() {
        let registry = json_registry(r#"{"text":"{{body}}"}"#).unwrap();
        let out = registry
            .render("body", &json!({"body": "say \"hi\"\n"}))
            .unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["text"], "say \"hi\"\n");
        assert!(json_registry("{{#if}}").is_err());
    }
}

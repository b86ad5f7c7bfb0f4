//! The `voice` adapter (an automated call that reads the rendered script to the debtor's
//! phone) and the `message` adapter (an automated reminder on a messaging API, to the
//! debtor's mobile), both over HTTP JSON APIs with the action's idempotency key.
//!
//! These adapters own their requests and nothing else: they never retry (the dispatcher
//! decides), and post through the shared HTTP endpoint, so they follow no redirect and
//! reach no internal address unless allowed.

use serde_json::json;

use super::api::{JsonApi, e164};
use super::documents::brand_of;
use super::{ApiError, ApiSettings, Channel, Delivery, Message, SendError};

/// The answer's fields that name a call, best first.
const CALL_ID_FIELDS: &[&str] = &["id", "call_id", "sid"];

/// The answer's fields that name a message, best first.
const MESSAGE_ID_FIELDS: &[&str] = &["id", "message_id"];

/// Places automated calls through one voice provider. See the module documentation.
#[derive(Clone, Debug)]
pub struct VoiceChannel {
    api: JsonApi,
    /// The number the debtor's phone shows.
    caller_id: Option<String>,
}

impl VoiceChannel {
    /// An adapter for `settings` (`sender`: the caller id); the URL is checked now, the
    /// address when sending.
    pub fn new(settings: &ApiSettings) -> Result<Self, ApiError> {
        Ok(VoiceChannel {
            api: JsonApi::new(settings, "channels.voice.url")?,
            caller_id: settings.sender.clone(),
        })
    }

    /// The JSON request `msg` becomes: the number to call and the script to read.
    pub fn request(&self, msg: &Message) -> Result<serde_json::Value, SendError> {
        let number = msg
            .to
            .phone
            .as_deref()
            .or(msg.to.mobile.as_deref())
            .filter(|n| !n.trim().is_empty());
        let Some(number) = number else {
            return Err(SendError::Permanent(format!(
                "case {}: the debtor has no phone number to call",
                msg.case_id
            )));
        };
        let to = international(number, &msg.case_id)?;
        let script = script(msg)?;
        Ok(json!({
            "to": to,
            "from": self.caller_id,
            "language": msg.language,
            "script": script,
            "reference": msg.key,
            "case_id": msg.case_id,
        }))
    }

    async fn deliver(&self, msg: &Message) -> Result<Delivery, SendError> {
        let body = self.request(msg)?;
        self.api.send(&msg.key, &body, CALL_ID_FIELDS).await
    }
}

impl Channel for VoiceChannel {
    fn name(&self) -> &str {
        "voice"
    }

    async fn send(&self, msg: &Message) -> Result<Delivery, SendError> {
        let result = self.deliver(msg).await;
        super::log_outcome(msg, &result, "voice provider");
        result
    }
}

/// Sends automated reminders through one messaging provider. See the module documentation.
#[derive(Clone, Debug)]
pub struct MessagingChannel {
    api: JsonApi,
    /// The sender name the debtor sees; default: the brand's trade or legal name.
    sender: Option<String>,
}

impl MessagingChannel {
    /// An adapter for `settings` (`sender`: the sender name); the URL is checked now, the
    /// address when sending.
    pub fn new(settings: &ApiSettings) -> Result<Self, ApiError> {
        Ok(MessagingChannel {
            api: JsonApi::new(settings, "channels.message.url")?,
            sender: settings.sender.clone(),
        })
    }

    /// The JSON request `msg` becomes: the mobile number and the text.
    pub fn request(&self, msg: &Message) -> Result<serde_json::Value, SendError> {
        let Some(mobile) = msg.to.mobile.as_deref().filter(|n| !n.trim().is_empty()) else {
            return Err(SendError::Permanent(format!(
                "case {}: the debtor has no mobile number to message",
                msg.case_id
            )));
        };
        let to = international(mobile, &msg.case_id)?;
        let text = script(msg)?;
        let brand = brand_of(msg);
        let sender = self.sender.clone().unwrap_or_else(|| {
            if brand.trade_name.trim().is_empty() {
                brand.legal_name.clone()
            } else {
                brand.trade_name.clone()
            }
        });
        Ok(json!({
            "to": to,
            "sender": sender,
            "language": msg.language,
            "subject": msg.subject,
            "text": text,
            "reference": msg.key,
            "case_id": msg.case_id,
        }))
    }

    async fn deliver(&self, msg: &Message) -> Result<Delivery, SendError> {
        let body = self.request(msg)?;
        self.api.send(&msg.key, &body, MESSAGE_ID_FIELDS).await
    }
}

impl Channel for MessagingChannel {
    fn name(&self) -> &str {
        "message"
    }

    async fn send(&self, msg: &Message) -> Result<Delivery, SendError> {
        let result = self.deliver(msg).await;
        super::log_outcome(msg, &result, "messaging provider");
        result
    }
}

fn international(number: &str, case_id: &str) -> Result<String, SendError> {
    e164(number).ok_or_else(|| {
        SendError::Permanent(format!(
            "case {case_id}: the debtor's number is not an international number such as \
             +33612345678"
        ))
    })
}

fn script(msg: &Message) -> Result<String, SendError> {
    let text = msg.body.trim();
    if text.is_empty() {
        return Err(SendError::Permanent(format!(
            "case {}: the rendered text is empty",
            msg.case_id
        )));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::channels::{MessageKind, Recipient};
    use crate::scenario::Channel as Via;

    fn settings() -> ApiSettings {
        ApiSettings {
            url: "http://voice.example/calls".into(),
            api_key: None,
            sender: None,
            timeout: Duration::from_secs(1),
            allow_loopback: false,
        }
    }

    fn message(phone: Option<&str>, mobile: Option<&str>) -> Message {
        Message {
            key: "k".into(),
            case_id: "C-1".into(),
            channel: Via::Voice,
            template: None,
            language: "fr".into(),
            subject: None,
            body: " Bonjour, ici ACME. ".into(),
            to: Recipient {
                name: "Martin".into(),
                phone: phone.map(str::to_string),
                mobile: mobile.map(str::to_string),
                ..Recipient::default()
            },
            attachments: Vec::new(),
            kind: MessageKind::Send,
            payload: json!({ "brand": { "legal_name": "ACME SAS", "trade_name": "ACME" } }),
        }
    }

    #[test]
    fn a_call_goes_to_the_phone_else_the_mobile() {
        let voice = VoiceChannel::new(&settings()).unwrap();
        let both = voice
            .request(&message(Some("+33 4 78 00 00 00"), Some("+33612345678")))
            .unwrap();
        assert_eq!(both["to"], "+33478000000");
        assert_eq!(both["script"], "Bonjour, ici ACME.");
        let mobile = voice.request(&message(None, Some("+33612345678"))).unwrap();
        assert_eq!(mobile["to"], "+33612345678");
        assert!(matches!(
            voice.request(&message(None, None)),
            Err(SendError::Permanent(_))
        ));
    }

    #[test]
    fn a_message_goes_to_the_mobile_from_the_brand() {
        let messaging = MessagingChannel::new(&settings()).unwrap();
        let body = messaging
            .request(&message(Some("+33478000000"), Some("+33612345678")))
            .unwrap();
        assert_eq!(body["to"], "+33612345678");
        assert_eq!(body["sender"], "ACME");
        assert!(matches!(
            messaging.request(&message(Some("+33478000000"), None)),
            Err(SendError::Permanent(_))
        ));
    }
}

//! The `post` adapter: **letter** and **registered mail** through a print-and-post
//! provider's JSON API. The message is laid out as a PDF letter (the client's letterhead,
//! the debtor's address in the envelope window) and sent base64-encoded with the address,
//! the enclosures the scenario attaches and `registered: true` for registered mail; the
//! tracking number the provider answers becomes the delivery's provider id, which delivery
//! receipts (proof of delivery) are matched by.
//!
//! This adapter owns that request and nothing else: it never retries (the dispatcher
//! decides), and posts through the shared HTTP endpoint, so it follows no redirect and
//! reaches no internal address unless allowed.

use serde_json::json;

use super::api::{JsonApi, document_json};
use super::documents::{attachments, brand_of, letter};
use super::{ApiError, ApiSettings, Channel, Delivery, Document, Message, PDF, SendError};
use crate::scenario::Channel as Via;

/// The answer's fields that name the sent letter, best first.
const ID_FIELDS: &[&str] = &["tracking_number", "tracking", "id"];

/// Sends letters and registered mail through one print-and-post provider. See the module
/// documentation.
#[derive(Clone, Debug)]
pub struct PostChannel {
    api: JsonApi,
}

impl PostChannel {
    /// An adapter for `settings`; the URL is checked now, the address when sending.
    pub fn new(settings: &ApiSettings) -> Result<Self, ApiError> {
        Ok(PostChannel {
            api: JsonApi::new(settings, "channels.post.url")?,
        })
    }

    /// The JSON request `msg` becomes, with its PDFs.
    pub fn request(msg: &Message) -> Result<serde_json::Value, SendError> {
        let registered = match msg.channel {
            Via::Letter => false,
            Via::RegisteredMail => true,
            other => {
                return Err(SendError::Permanent(format!(
                    "the post adapter sends letters and registered mail, not {other}: route \
                     {other} to another adapter in channels.per_channel"
                )));
            }
        };
        if msg.to.address.iter().all(|l| l.trim().is_empty()) {
            return Err(SendError::Permanent(format!(
                "case {}: the debtor has no postal address",
                msg.case_id
            )));
        }
        let pdf = letter(msg).map_err(|e| SendError::Permanent(e.to_string()))?;
        let enclosures = attachments(msg).map_err(|e| SendError::Permanent(e.to_string()))?;
        let brand = brand_of(msg);
        let document = Document {
            name: "letter.pdf".into(),
            content_type: PDF.into(),
            bytes: pdf,
        };
        Ok(json!({
            "reference": msg.key,
            "case_id": msg.case_id,
            "registered": registered,
            "recipient": { "name": msg.to.name, "address": msg.to.address },
            "sender": { "name": brand.legal_name, "address": brand.address },
            "document": document_json(&document),
            "enclosures": enclosures.iter().map(document_json).collect::<Vec<_>>(),
        }))
    }

    async fn deliver(&self, msg: &Message) -> Result<Delivery, SendError> {
        let body = Self::request(msg)?;
        let delivery = self.api.send(&msg.key, &body, ID_FIELDS).await?;
        if msg.channel == Via::RegisteredMail
            && matches!(delivery, Delivery::Sent { provider_id: None })
        {
            // TODO: without a tracking number no proof of delivery can be matched to this
            // letter except by its idempotency key; providers that answer none need their
            // receipts to carry `key`.
            tracing::warn!(key = %msg.key, case.id = %msg.case_id, "the post provider gave no tracking number for a registered letter");
        }
        Ok(delivery)
    }
}

impl Channel for PostChannel {
    fn name(&self) -> &str {
        "post"
    }

    async fn send(&self, msg: &Message) -> Result<Delivery, SendError> {
        let result = self.deliver(msg).await;
        super::log_outcome(msg, &result, "post provider");
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::{MessageKind, Recipient};

    fn message(channel: Via) -> Message {
        Message {
            key: "k/1".into(),
            case_id: "C-1".into(),
            channel,
            template: Some("reminder_letter".into()),
            language: "fr".into(),
            subject: None,
            body: "Madame, Monsieur,\nréglez.\n".into(),
            to: Recipient {
                name: "Martin SARL".into(),
                address: vec!["12 rue des Lilas".into(), "69003 Lyon".into()],
                ..Recipient::default()
            },
            attachments: Vec::new(),
            kind: MessageKind::Send,
            payload: json!({ "brand": { "legal_name": "ACME SAS" } }),
        }
    }

    #[test]
    fn registered_mail_says_so_and_a_letter_does_not() {
        let letter = PostChannel::request(&message(Via::Letter)).unwrap();
        assert_eq!(letter["registered"], false);
        let registered = PostChannel::request(&message(Via::RegisteredMail)).unwrap();
        assert_eq!(registered["registered"], true);
        assert_eq!(registered["sender"]["name"], "ACME SAS");
        assert_eq!(registered["document"]["content_type"], PDF);
    }

    #[test]
    fn no_address_or_another_channel_is_refused_for_good() {
        let mut msg = message(Via::Letter);
        msg.to.address.clear();
        assert!(matches!(
            PostChannel::request(&msg),
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(
            PostChannel::request(&message(Via::Email)),
            Err(SendError::Permanent(_))
        ));
    }
}

//! The `fax` adapter: the message laid out as a PDF (the client's letterhead over the fax
//! text, the enclosures after it) sent through an HTTP fax API to the debtor's fax number,
//! with the action's idempotency key.
//!
//! This adapter owns that request and nothing else: it never retries (the dispatcher
//! decides), and posts through the shared HTTP endpoint, so it follows no redirect and
//! reaches no internal address unless allowed.

use serde_json::json;

use super::api::{JsonApi, document_json, e164};
use super::documents::{attachments, brand_of, letter};
use super::{ApiError, ApiSettings, Channel, Delivery, Document, Message, PDF, SendError};

/// The answer's fields that name the fax, best first.
const ID_FIELDS: &[&str] = &["id", "fax_id"];

/// Sends faxes through one fax provider. See the module documentation.
#[derive(Clone, Debug)]
pub struct FaxChannel {
    api: JsonApi,
    /// The number the fax header shows as the sender.
    sender: Option<String>,
}

impl FaxChannel {
    /// An adapter for `settings` (`sender`: the sending fax number); the URL is checked now,
    /// the address when sending.
    pub fn new(settings: &ApiSettings) -> Result<Self, ApiError> {
        Ok(FaxChannel {
            api: JsonApi::new(settings, "channels.fax.url")?,
            sender: settings.sender.clone(),
        })
    }

    /// The JSON request `msg` becomes, with its PDF.
    pub fn request(&self, msg: &Message) -> Result<serde_json::Value, SendError> {
        let Some(raw) = msg.to.fax.as_deref().filter(|f| !f.trim().is_empty()) else {
            return Err(SendError::Permanent(format!(
                "case {}: the debtor has no fax number",
                msg.case_id
            )));
        };
        let Some(to) = e164(raw) else {
            return Err(SendError::Permanent(format!(
                "case {}: the debtor's fax number is not an international number such as \
                 +33478000000",
                msg.case_id
            )));
        };
        let pages = letter(msg).map_err(|e| SendError::Permanent(e.to_string()))?;
        let enclosures = attachments(msg).map_err(|e| SendError::Permanent(e.to_string()))?;
        let document = Document {
            name: "fax.pdf".into(),
            content_type: PDF.into(),
            bytes: pages,
        };
        Ok(json!({
            "to": to,
            "from": self.sender,
            "sender_name": brand_of(msg).legal_name,
            "reference": msg.key,
            "case_id": msg.case_id,
            "document": document_json(&document),
            "enclosures": enclosures.iter().map(document_json).collect::<Vec<_>>(),
        }))
    }

    async fn deliver(&self, msg: &Message) -> Result<Delivery, SendError> {
        let body = self.request(msg)?;
        self.api.send(&msg.key, &body, ID_FIELDS).await
    }
}

impl Channel for FaxChannel {
    fn name(&self) -> &str {
        "fax"
    }

    async fn send(&self, msg: &Message) -> Result<Delivery, SendError> {
        let result = self.deliver(msg).await;
        super::log_outcome(msg, &result, "fax provider");
        result
    }
}

//! The `smtp` adapter: sends a rendered [`Message`] as an email through an SMTP relay, with
//! a `Message-ID` derived from the action's idempotency key and a `Reply-To` that names the
//! case, so that replies and bounces can be matched back to it.
//!
//! This adapter owns the SMTP exchange with one relay and the shape of the email. It never
//! retries (the dispatcher decides), and refuses a relay that resolves to a loopback, private
//! or link-local address unless the configuration allows it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lettre::Address;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::time::{Instant, timeout_at};

use super::http::is_internal;
use super::{Channel, Delivery, Message, SendError};

/// The tag put before the encoded case id in a `Reply-To` address (`billing+case-…@…`).
const CASE_TAG: &str = "case-";

/// The longest local part RFC 5321 allows; a tagged address that would be longer is not used.
const MAX_LOCAL_PART: usize = 64;

/// How the connection to the relay is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a relay on the same host or network; tests).
    None,
    /// Plain connection upgraded with `STARTTLS`, which the relay must offer (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (implicit TLS, port 465).
    Tls,
}

impl SmtpTls {
    /// The usual port of this mode: 25, 587 or 465.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// How the `smtp` adapter reaches its relay.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// The relay's host name (checked against its TLS certificate) or address.
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// The user name and password to log in with, when the relay needs them.
    pub credentials: Option<(String, String)>,
    /// The sender when the message carries no brand address: `billing@client.example` or
    /// `Client Ltd <billing@client.example>`.
    pub from: String,
    /// The whole exchange (resolve, connect, hand over the message) must fit in this time.
    pub timeout: Duration,
    /// Allows a relay on a loopback or private address (tests, a relay on the same network).
    pub allow_loopback: bool,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(user, _)| (user, "***")),
            )
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .field("allow_loopback", &self.allow_loopback)
            .finish()
    }
}

/// Settings the `smtp` adapter cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SmtpError {
    /// `channels.smtp.host` is empty or holds a scheme, a port or spaces.
    #[error(
        "channels.smtp.host `{host}`: expected a host name or an address, such as smtp.example.com"
    )]
    BadHost { host: String },
    /// `channels.smtp.from` is not an address.
    #[error("channels.smtp.from `{from}`: {reason}")]
    BadFrom { from: String, reason: String },
}

/// A document to attach, with its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// The file name the debtor sees (`invoice-F-2026-0142.pdf`).
    pub name: String,
    /// A MIME type (`application/pdf`).
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Where the bytes of a message's attachments come from: given the message and one name of
/// [`Message::attachments`], the document, or `None` when there is none to attach.
pub trait Documents: Send + Sync {
    fn document(&self, msg: &Message, name: &str) -> Option<Document>;
}

/// No documents at all: every attachment name is left out of the email.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDocuments;

impl Documents for NoDocuments {
    fn document(&self, _msg: &Message, _name: &str) -> Option<Document> {
        None
    }
}

/// Sends messages as emails through one SMTP relay. See the module documentation.
#[derive(Clone)]
pub struct SmtpChannel {
    settings: SmtpSettings,
    from: Mailbox,
    documents: Arc<dyn Documents>,
}

impl fmt::Debug for SmtpChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpChannel")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// How far the exchange went when it failed: until the relay has the whole message, it
/// cannot have sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Resolving, connecting, greeting, TLS, login, envelope: nothing can have gone out.
    Before,
    /// The TLS handshake after STARTTLS failed: nothing went out, and the connection has
    /// no stream left to say goodbye on (lettre panics on any further write).
    HandshakeFailed,
    /// The message content was (being) written: the relay may have accepted it.
    Content,
}

impl SmtpChannel {
    /// An adapter for `settings`; the host and sender are checked now, the address when
    /// sending. Attachments are left out until [`SmtpChannel::with_documents`] says where
    /// their bytes come from ([`super::PdfDocuments`] builds them; the adapter table plugs
    /// it in).
    pub fn new(settings: &SmtpSettings) -> Result<Self, SmtpError> {
        let host = settings.host.trim();
        if host.is_empty()
            || host.contains("://")
            || host
                .chars()
                .any(|c| c.is_whitespace() || c == '/' || c == '@')
        {
            return Err(SmtpError::BadHost {
                host: settings.host.clone(),
            });
        }
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| SmtpError::BadFrom {
                from: settings.from.clone(),
                reason: format!("not an email address ({e})"),
            })?;
        Ok(SmtpChannel {
            settings: settings.clone(),
            from,
            documents: Arc::new(NoDocuments),
        })
    }

    /// The same adapter, taking the bytes of attachments from `documents`.
    pub fn with_documents(mut self, documents: Arc<dyn Documents>) -> Self {
        self.documents = documents;
        self
    }

    /// The email `msg` becomes, as it is handed to the relay (headers and MIME body).
    pub fn email(&self, msg: &Message) -> Result<lettre::Message, SendError> {
        let Some(to_address) = msg.to.email.as_deref().filter(|e| !e.trim().is_empty()) else {
            return Err(SendError::Permanent(format!(
                "case {}: the debtor has no email address",
                msg.case_id
            )));
        };
        let to_address: Address = to_address.trim().parse().map_err(|e| {
            SendError::Permanent(format!(
                "case {}: the debtor's email address is not valid ({e})",
                msg.case_id
            ))
        })?;
        let to = Mailbox::new(non_empty(&msg.to.name), to_address);

        let from = sender(&self.from, &msg.payload);
        let reply_to = Mailbox::new(from.name.clone(), reply_address(&from.email, &msg.case_id));
        let message_id = message_id(&msg.key, from.email.domain());

        let builder = lettre::Message::builder()
            .from(from)
            .reply_to(reply_to)
            .to(to)
            .message_id(Some(message_id))
            .subject(msg.subject.clone().unwrap_or_default())
            .date_now();

        let text = SinglePart::plain(msg.body.clone());
        let documents: Vec<Document> = msg
            .attachments
            .iter()
            .filter_map(|name| {
                let found = self.documents.document(msg, name);
                if found.is_none() {
                    // The adapter table plugs in the PDF documents; an adapter built without
                    // them, or a document that cannot be built, leaves the name out.
                    tracing::warn!(key = %msg.key, case.id = %msg.case_id, attachment = %name, "no document to attach; left out");
                }
                found
            })
            .collect();
        let built = if documents.is_empty() {
            builder.singlepart(text)
        } else {
            let mut mixed = MultiPart::mixed().singlepart(text);
            for doc in documents {
                let content_type = ContentType::parse(&doc.content_type).map_err(|e| {
                    SendError::Permanent(format!(
                        "attachment {}: bad content type `{}` ({e})",
                        doc.name, doc.content_type
                    ))
                })?;
                mixed = mixed.singlepart(Attachment::new(doc.name).body(doc.bytes, content_type));
            }
            builder.multipart(mixed)
        };
        built.map_err(|e| SendError::Permanent(format!("cannot build the email: {e}")))
    }

    async fn exchange(&self, msg: &Message) -> Result<Delivery, SendError> {
        let email = self.email(msg)?;
        let deadline = Instant::now() + self.settings.timeout;
        let mut phase = Phase::Before;
        match timeout_at(deadline, self.deliver(&email, &mut phase)).await {
            Ok(result) => result,
            Err(_) => {
                let late = format!("timed out after {:?}", self.settings.timeout);
                Err(match phase {
                    Phase::Before | Phase::HandshakeFailed => SendError::Retryable(late),
                    Phase::Content => {
                        SendError::Unknown(format!("{late} while the relay was taking the message"))
                    }
                })
            }
        }
    }

    async fn deliver(
        &self,
        email: &lettre::Message,
        phase: &mut Phase,
    ) -> Result<Delivery, SendError> {
        let host = self.settings.host.trim();
        let address = self.address(host).await?;
        let hello = ClientId::Domain(
            email
                .envelope()
                .from()
                .map_or_else(|| "localhost".to_string(), |a| a.domain().to_string()),
        );
        let implicit = match self.settings.tls {
            SmtpTls::Tls => Some(tls_parameters(host)?),
            _ => None,
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            address,
            Some(self.settings.timeout),
            &hello,
            implicit,
            None,
        )
        .await
        .map_err(|e| before(&e, &format!("connecting to {address}")))?;

        let result = self
            .transact(&mut conn, email, address, &hello, phase)
            .await;
        match (&result, &*phase) {
            (_, Phase::HandshakeFailed) => drop(conn),
            (Ok(_), _) => {
                let _ = conn.quit().await;
            }
            (Err(_), _) => conn.abort().await,
        }
        result
    }

    async fn transact(
        &self,
        conn: &mut AsyncSmtpConnection,
        email: &lettre::Message,
        address: SocketAddr,
        hello: &ClientId,
        phase: &mut Phase,
    ) -> Result<Delivery, SendError> {
        let host = self.settings.host.trim();
        if self.settings.tls == SmtpTls::Starttls {
            if !conn.can_starttls() {
                return Err(SendError::Permanent(format!(
                    "{host} does not offer STARTTLS; set channels.smtp.tls to `tls` or `none`"
                )));
            }
            let params = tls_parameters(host)?;
            if let Err(e) = conn.starttls(params, hello).await {
                *phase = Phase::HandshakeFailed;
                return Err(before(&e, "STARTTLS"));
            }
        }

        if let Some((user, password)) = &self.settings.credentials {
            if !conn.is_encrypted() && !address.ip().is_loopback() {
                return Err(SendError::Permanent(format!(
                    "refusing to send the password to {host} in clear text; set \
                     channels.smtp.tls to `starttls` or `tls`"
                )));
            }
            let credentials = Credentials::new(user.clone(), password.clone());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(|e| before(&e, "logging in"))?;
        }

        let content = email.formatted();
        let envelope = email.envelope();
        let mut options = Vec::new();
        if !content.is_ascii() && conn.server_info().supports_feature(Extension::EightBitMime) {
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        conn.command(Mail::new(envelope.from().cloned(), options))
            .await
            .map_err(|e| before(&e, "MAIL FROM"))?;
        for rcpt in envelope.to() {
            conn.command(Rcpt::new(rcpt.clone(), vec![]))
                .await
                .map_err(|e| before(&e, "RCPT TO"))?;
        }
        conn.command(Data).await.map_err(|e| before(&e, "DATA"))?;

        *phase = Phase::Content;
        let response = conn.message(&content).await.map_err(|e| after(&e))?;
        Ok(Delivery::Sent {
            provider_id: response.first_line().map(str::to_string),
        })
    }

    /// The relay's address, refused when internal and not allowed.
    async fn address(&self, host: &str) -> Result<SocketAddr, SendError> {
        let addresses = tokio::net::lookup_host((host, self.settings.port))
            .await
            .map_err(|e| SendError::Retryable(format!("cannot resolve {host}: {e}")))?
            .collect::<Vec<SocketAddr>>();
        let Some(address) = addresses.first().copied() else {
            return Err(SendError::Retryable(format!("{host} has no address")));
        };
        if let Some(refused) = addresses
            .iter()
            .find(|a| !self.settings.allow_loopback && is_internal(a.ip()))
        {
            return Err(SendError::Permanent(format!(
                "{host} resolves to the internal address {}; set channels.smtp.allow_loopback \
                 to send there",
                refused.ip()
            )));
        }
        Ok(address)
    }
}

impl Channel for SmtpChannel {
    fn name(&self) -> &str {
        "smtp"
    }

    async fn send(&self, msg: &Message) -> Result<Delivery, SendError> {
        let result = self.exchange(msg).await;
        match &result {
            Ok(delivery) => tracing::info!(
                key = %msg.key,
                channel = %msg.channel,
                case.id = %msg.case_id,
                delivery = ?delivery,
                "email handed to the relay"
            ),
            Err(err) => tracing::warn!(
                key = %msg.key,
                channel = %msg.channel,
                case.id = %msg.case_id,
                error = %err,
                "email send failed"
            ),
        }
        result
    }
}

/// An SMTP failure before the message content was sent: nothing went out.
fn before(err: &lettre::transport::smtp::Error, what: &str) -> SendError {
    let text = format!("{what}: {err}");
    if err.is_permanent() {
        SendError::Permanent(text)
    } else if err.is_tls() || err.is_client() {
        // A certificate that does not match, no common authentication mechanism: retrying
        // will not change it.
        SendError::Permanent(text)
    } else {
        SendError::Retryable(text)
    }
}

/// An SMTP failure while or after the content was sent: the relay's reply decides, and
/// without one the message may have gone out.
fn after(err: &lettre::transport::smtp::Error) -> SendError {
    let text = format!("after the message content: {err}");
    if err.is_permanent() {
        SendError::Permanent(text)
    } else if err.is_transient() {
        SendError::Retryable(text)
    } else {
        SendError::Unknown(text)
    }
}

/// `Some(name)` unless blank.
fn non_empty(name: &str) -> Option<String> {
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// The sender: the brand's reply address and name when the message's payload carries a
/// `brand` (as templates see it), else the configured sender.
fn sender(configured: &Mailbox, payload: &serde_json::Value) -> Mailbox {
    let brand = &payload["brand"];
    let text = |field: &str| brand[field].as_str().map(str::trim).unwrap_or_default();
    let address = [text("reply_to"), text("email")]
        .into_iter()
        .find_map(|a| a.parse::<Address>().ok());
    let Some(address) = address else {
        return configured.clone();
    };
    let name = [text("trade_name"), text("legal_name")]
        .into_iter()
        .find(|n| !n.is_empty())
        .map(str::to_string)
        .or_else(|| configured.name.clone());
    Mailbox::new(name, address)
}

/// TLS towards the relay `host`: its certificate checked against the built-in roots and the
/// authorities of `channels.tls_ca_file`.
fn tls_parameters(host: &str) -> Result<TlsParameters, SendError> {
    let setup = |e: lettre::transport::smtp::Error| {
        SendError::Permanent(format!("TLS setup for {host}: {e}"))
    };
    let mut builder = TlsParameters::builder(host.to_string());
    for der in super::tls::added_authorities() {
        builder = builder.add_root_certificate(Certificate::from_der(der).map_err(setup)?);
    }
    builder.build_rustls().map_err(setup)
}

/// The `Message-ID` of the action with idempotency key `key`: the same key always gives the
/// same id, `<32 hex digits@domain>`.
pub fn message_id(key: &str, domain: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("<{hex}@{domain}>")
}

/// The address replies to a case go to: `local+case-<encoded case id>@domain`, built from
/// `base` (`local@domain`). When that would make the local part longer than SMTP allows, or
/// `base` already has a `+` tag, `base` itself is used.
pub fn reply_address(base: &Address, case_id: &str) -> Address {
    let user = base.user();
    let local = format!("{user}+{CASE_TAG}{}", encode_case_id(case_id));
    if user.contains('+') || local.len() > MAX_LOCAL_PART {
        return base.clone();
    }
    Address::new(local, base.domain()).unwrap_or_else(|_| base.clone())
}

/// The case id a reply address names (see [`reply_address`]), or `None` when it names none.
/// Upper and lower case are treated alike, since mail systems may change them.
pub fn case_id_from_address(address: &str) -> Option<String> {
    let (local, _domain) = address.trim().rsplit_once('@')?;
    let (_, tag) = local.split_once('+')?;
    let encoded = tag
        .get(..CASE_TAG.len())
        .filter(|t| t.eq_ignore_ascii_case(CASE_TAG))
        .map(|_| &tag[CASE_TAG.len()..])?;
    decode_case_id(&encoded.to_ascii_lowercase())
}

/// Lower-case letters, digits and `-` stay; every other byte becomes `_` and two lower-case
/// hex digits, so that the id survives mail systems that change letter case.
fn encode_case_id(case_id: &str) -> String {
    let mut out = String::with_capacity(case_id.len());
    for b in case_id.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

fn decode_case_id(encoded: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'_' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> Address {
        text.parse().unwrap()
    }

    #[test]
    fn the_message_id_is_stable_per_key_and_differs_between_keys() {
        let first = message_id("acme/D-1001/v1/reminder/1", "lumen.example");
        assert_eq!(
            first,
            message_id("acme/D-1001/v1/reminder/1", "lumen.example")
        );
        assert_ne!(
            first,
            message_id("acme/D-1001/v1/reminder/2", "lumen.example")
        );
        assert!(first.starts_with('<') && first.ends_with("@lumen.example>"));
        assert_eq!(first.len(), "<@lumen.example>".len() + 32);
    }

    #[test]
    fn a_reply_address_names_the_case_and_gives_it_back() {
        let reply = reply_address(&address("credit@lumen.example"), "acme/D-1001");
        assert_eq!(
            reply.to_string(),
            "credit+case-acme_2f_44-1001@lumen.example"
        );
        assert_eq!(
            case_id_from_address(reply.as_ref()).as_deref(),
            Some("acme/D-1001")
        );
        // A mail system that upper-cases the address does not lose the case.
        assert_eq!(
            case_id_from_address(&reply.to_string().to_uppercase()).as_deref(),
            Some("acme/D-1001")
        );
    }

    #[test]
    fn an_address_without_a_case_tag_names_no_case() {
        assert_eq!(case_id_from_address("credit@lumen.example"), None);
        assert_eq!(case_id_from_address("credit+news@lumen.example"), None);
        assert_eq!(case_id_from_address("credit+case-_4@lumen.example"), None);
        assert_eq!(case_id_from_address("no-at-sign"), None);
    }

    #[test]
    fn a_case_id_too_long_for_an_address_keeps_the_plain_address() {
        let base = address("credit@lumen.example");
        let long = "x".repeat(80);
        assert_eq!(reply_address(&base, &long), base);
        let tagged = address("credit+team@lumen.example");
        assert_eq!(reply_address(&tagged, "acme/D-1"), tagged);
    }

    #[test]
    fn the_brand_in_the_payload_is_the_sender_else_the_configured_one() {
        let configured: Mailbox = "Lumen <billing@lumen.example>".parse().unwrap();
        assert_eq!(sender(&configured, &serde_json::Value::Null), configured);
        let payload = serde_json::json!({
            "brand": { "trade_name": "Acme", "reply_to": "cc@acme.example" }
        });
        let brand = sender(&configured, &payload);
        assert_eq!(brand.to_string(), "Acme <cc@acme.example>");
        let no_address = serde_json::json!({ "brand": { "trade_name": "Acme" } });
        assert_eq!(sender(&configured, &no_address), configured);
    }

    #[test]
    fn a_host_with_a_scheme_or_a_bad_sender_is_refused() {
        let mut settings = SmtpSettings {
            host: "smtp.lumen.example".into(),
            port: 587,
            tls: SmtpTls::Starttls,
            credentials: Some(("user".into(), "secret".into())),
            from: "billing@lumen.example".into(),
            timeout: Duration::from_secs(5),
            allow_loopback: false,
        };
        assert!(SmtpChannel::new(&settings).is_ok());
        assert!(!format!("{settings:?}").contains("secret"));
        settings.host = "smtp://smtp.lumen.example".into();
        assert!(matches!(
            SmtpChannel::new(&settings),
            Err(SmtpError::BadHost { .. })
        ));
        settings.host = "smtp.lumen.example".into();
        settings.from = "not an address".into();
        assert!(matches!(
            SmtpChannel::new(&settings),
            Err(SmtpError::BadFrom { .. })
        ));
    }
}

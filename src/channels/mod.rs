//! Channel adapters: one trait every transport implements, the message the dispatcher hands
//! it, the local adapters (`file`, `log`) used for demos and tests, a plain `http` adapter
//! that posts to a provider, signed partner `webhook`s, `sms` providers, print-and-post
//! (`post`), `fax`, automated `voice` calls and `message`s, and the PDF documents a message
//! carries.
//!
//! This module owns turning an outbox action into a rendered [`Message`] and handing that
//! message to a transport. It never touches storage and decides nothing about retries: an
//! adapter says what happened ([`Delivery`] or [`SendError`]) and the dispatcher records it.

mod adapters;
mod api;
mod documents;
mod fax;
mod file;
mod http;
mod log;
mod post;
mod render;
mod sms;
mod smtp;
mod tls;
mod voice;
mod webhook;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

pub use adapters::{ADAPTER_NAMES, AdapterError, Adapters, ProviderSettings};
pub use api::{ApiError, ApiSettings};
pub use documents::{
    DocumentData, DocumentError, PDF, PdfDocuments, attachment, attachments, letter,
};
pub use fax::FaxChannel;
pub use file::FileChannel;
pub use http::{HttpChannel, HttpError, HttpSettings};
pub use log::LogChannel;
pub use post::PostChannel;
pub use render::{
    Agent, PaymentDetails, RenderError, RenderExtras, render_message, render_message_with,
};
pub use sms::{
    DEFAULT_MAX_SEGMENTS, Encoding, Segments, SenderId, SmsChannel, SmsError, SmsProvider,
    SmsSettings, segments,
};
pub use smtp::{
    Document, Documents, NoDocuments, SmtpChannel, SmtpError, SmtpSettings, SmtpTls,
    case_id_from_address, message_id, reply_address,
};
pub use tls::{TlsError, trust_ca_file};
pub use voice::{MessagingChannel, VoiceChannel};
pub use webhook::{
    DEFAULT_TOLERANCE, WebhookChannel, WebhookError, WebhookSecret, WebhookSettings, envelope,
    sign, verify, verify_any,
};

/// What the dispatcher hands an adapter: one outbox row, rendered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The action's idempotency key; a provider that deduplicates is given it.
    pub key: String,
    pub case_id: String,
    pub channel: crate::scenario::Channel,
    /// The template the subject and body came from (none for tasks without one, handovers
    /// and claims).
    pub template: Option<String>,
    pub language: String,
    pub subject: Option<String>,
    pub body: String,
    pub to: Recipient,
    /// Names of the documents to attach (`invoice-F-2026-0142.pdf`, …).
    pub attachments: Vec<String>,
    pub kind: MessageKind,
    /// Machine-readable details for partners and work queues (the action, and for
    /// handovers and claims the whole render scope).
    pub payload: serde_json::Value,
}

/// Who a message goes to. Personal data: log it at `debug` at most.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub name: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub phone: Option<String>,
    /// Fax number, E.164 (`+33478000000`).
    #[serde(default)]
    pub fax: Option<String>,
    /// Postal address, one line an entry, ready to print.
    pub address: Vec<String>,
    /// The partner (agent, insurer) of a handover or a claim.
    pub partner: Option<String>,
}

/// What kind of action a message carries out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A message to the debtor.
    Send,
    /// Work for a person (a call to make, a claim to declare).
    Task,
    /// A case handed over to a collection agent.
    Handover,
    /// A notification or claim to the credit insurer.
    Claim,
}

impl MessageKind {
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Send => "send",
            MessageKind::Task => "task",
            MessageKind::Handover => "handover",
            MessageKind::Claim => "claim",
        }
    }
}

/// What an adapter did with a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Handed to the transport, with the provider's own id when it gives one.
    Sent { provider_id: Option<String> },
    /// The transport already had this key: it went out before, nothing was sent now.
    Duplicate,
}

/// Why a send failed, in the terms the dispatcher decides on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later: a timeout, a server error, a rate limit.
    #[error("temporary failure, to retry: {0}")]
    Retryable(String),
    /// Will never work as it is: a bad address, a request the provider refuses.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// It may or may not have gone out (the connection dropped after sending).
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// A transport for messages. Implementations must be idempotent on [`Message::key`] when
/// the transport allows it (report [`Delivery::Duplicate`]).
///
/// The future is spelled out rather than `async fn` so that it is `Send`; to keep
/// adapters of different types in one table, use them as [`DynChannel`].
pub trait Channel: Send + Sync {
    /// The adapter's name, as configuration spells it (`file`, `log`, `smtp`…).
    fn name(&self) -> &str;

    fn send(&self, msg: &Message) -> impl Future<Output = Result<Delivery, SendError>> + Send;
}

/// The future a [`DynChannel`] returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Delivery, SendError>> + Send + 'a>>;

/// The object-safe face of [`Channel`], implemented for every channel.
pub trait DynChannel: Send + Sync {
    fn name(&self) -> &str;

    fn send_boxed<'a>(&'a self, msg: &'a Message) -> SendFuture<'a>;
}

impl<T: Channel> DynChannel for T {
    fn name(&self) -> &str {
        Channel::name(self)
    }

    fn send_boxed<'a>(&'a self, msg: &'a Message) -> SendFuture<'a> {
        Box::pin(Channel::send(self, msg))
    }
}

/// Logs what a provider answered for a message, without personal data: the
/// key, the channel and the case, never the recipient.
pub(crate) fn log_outcome(msg: &Message, result: &Result<Delivery, SendError>, provider: &str) {
    match result {
        Ok(delivery) => tracing::info!(
            key = %msg.key,
            channel = %msg.channel,
            case.id = %msg.case_id,
            delivery = ?delivery,
            "{provider} answered"
        ),
        Err(err) => tracing::warn!(
            key = %msg.key,
            channel = %msg.channel,
            error = %err,
            "{provider} send failed"
        ),
    }
}

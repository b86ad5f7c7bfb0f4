//! The table the dispatcher sends through: which adapter serves which channel.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::{
    ApiError, ApiSettings, Delivery, DynChannel, FaxChannel, FileChannel, HttpChannel, HttpError,
    HttpSettings, LogChannel, Message, MessagingChannel, PdfDocuments, PostChannel, SendError,
    SmsChannel, SmsError, SmsSettings, SmtpChannel, SmtpError, SmtpSettings, VoiceChannel,
    WebhookChannel, WebhookError, WebhookSettings,
};
use crate::scenario::Channel;

/// The adapter names configuration may use.
pub const ADAPTER_NAMES: &[&str] = &[
    "file", "log", "http", "webhook", "sms", "smtp", "post", "fax", "voice", "message",
];

/// A channel table that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// The name is not one of [`ADAPTER_NAMES`].
    #[error("unknown adapter `{name}`{hint}: the adapters are {}", ADAPTER_NAMES.join(", "))]
    UnknownAdapter {
        name: String,
        /// A ready-to-print suggestion (" (did you mean `file`?)"), or empty.
        hint: String,
    },
    /// A channel is sent through `http` but no provider URL is configured.
    #[error("the http adapter is chosen but channels.http.url is not set")]
    HttpNotConfigured,
    /// The provider URL is not usable.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// A channel is sent through `webhook` but channels.webhook is not configured.
    #[error("the webhook adapter is chosen but channels.webhook.url is not set")]
    WebhookNotConfigured,
    /// The webhook settings are not usable.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// A channel is sent through `sms` but channels.sms is not configured.
    #[error("the sms adapter is chosen but channels.sms.url is not set")]
    SmsNotConfigured,
    /// The SMS settings are not usable.
    #[error(transparent)]
    Sms(#[from] SmsError),
    /// A channel is sent through `smtp` but no relay is configured.
    #[error("the smtp adapter is chosen but channels.smtp.host is not set")]
    SmtpNotConfigured,
    /// The relay settings are not usable.
    #[error(transparent)]
    Smtp(#[from] SmtpError),
    /// A channel is sent through `post`, `fax`, `voice` or `message` but
    /// `channels.<adapter>` is not configured.
    #[error("the {0} adapter is chosen but channels.{0}.url is not set")]
    ApiNotConfigured(&'static str),
    /// The settings of a JSON provider are not usable.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// The providers the HTTP-based adapters reach, each when configured.
#[derive(Clone, Debug, Default)]
pub struct ProviderSettings {
    pub http: Option<HttpSettings>,
    pub webhook: Option<WebhookSettings>,
    pub sms: Option<SmsSettings>,
    pub smtp: Option<SmtpSettings>,
    /// The print-and-post provider of the `post` adapter.
    pub post: Option<ApiSettings>,
    /// The fax provider of the `fax` adapter.
    pub fax: Option<ApiSettings>,
    /// The automated-call provider of the `voice` adapter.
    pub voice: Option<ApiSettings>,
    /// The messaging provider of the `message` adapter.
    pub message: Option<ApiSettings>,
}

/// One adapter for each channel: a default, and overrides for some channels.
#[derive(Clone)]
pub struct Adapters {
    default: Arc<dyn DynChannel>,
    overrides: BTreeMap<Channel, Arc<dyn DynChannel>>,
    /// Clients with transports of their own (their relay, their print-and-post account).
    clients: BTreeMap<String, Arc<Adapters>>,
}

impl std::fmt::Debug for Adapters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let overrides: BTreeMap<_, _> = self
            .overrides
            .iter()
            .map(|(c, a)| (c.name(), a.name()))
            .collect();
        f.debug_struct("Adapters")
            .field("default", &self.default.name())
            .field("overrides", &overrides)
            .field("clients", &self.clients)
            .finish()
    }
}

impl Adapters {
    /// Every channel served by `default`.
    pub fn new(default: Arc<dyn DynChannel>) -> Self {
        Adapters {
            default,
            overrides: BTreeMap::new(),
            clients: BTreeMap::new(),
        }
    }

    /// The messages of client `client_id` sent through `adapters` instead of these.
    pub fn with_client(mut self, client_id: &str, adapters: Adapters) -> Self {
        self.clients
            .insert(client_id.to_owned(), Arc::new(adapters));
        self
    }

    /// The adapters of client `client_id`: its own when it has some, else these.
    pub fn for_client(&self, client_id: &str) -> &Adapters {
        self.clients.get(client_id).map_or(self, |a| a.as_ref())
    }

    /// `channel` served by `adapter` instead of the default.
    pub fn with(mut self, channel: Channel, adapter: Arc<dyn DynChannel>) -> Self {
        self.overrides.insert(channel, adapter);
        self
    }

    /// The table configuration describes: a default adapter name (`file` or `log`) and a
    /// name per channel that differs. `file` adapters write below `dir`; all channels named
    /// `log` share one [`LogChannel`], all named `file` one [`FileChannel`].
    pub fn from_names(
        default: &str,
        overrides: &BTreeMap<Channel, String>,
        dir: &Path,
    ) -> Result<Self, AdapterError> {
        Self::from_settings(default, overrides, dir, None, None)
    }

    /// Like [`Adapters::from_names`], with the provider the `http` adapter posts to and the
    /// relay the `smtp` adapter sends through; all channels named `http` share one
    /// [`HttpChannel`], all named `smtp` one [`SmtpChannel`].
    pub fn from_settings(
        default: &str,
        overrides: &BTreeMap<Channel, String>,
        dir: &Path,
        http: Option<&HttpSettings>,
        smtp: Option<&SmtpSettings>,
    ) -> Result<Self, AdapterError> {
        let providers = ProviderSettings {
            http: http.cloned(),
            smtp: smtp.cloned(),
            ..ProviderSettings::default()
        };
        Self::from_providers(default, overrides, dir, &providers)
    }

    /// Like [`Adapters::from_settings`], with every provider: channels named `webhook` share
    /// one [`WebhookChannel`], channels named `sms` one [`SmsChannel`], and likewise for
    /// `post`, `fax`, `voice` and `message`. Emails carry their attachments as PDF.
    pub fn from_providers(
        default: &str,
        overrides: &BTreeMap<Channel, String>,
        dir: &Path,
        providers: &ProviderSettings,
    ) -> Result<Self, AdapterError> {
        let http = providers.http.as_ref();
        let file: Arc<dyn DynChannel> = Arc::new(FileChannel::new(dir));
        let log: Arc<dyn DynChannel> = Arc::new(LogChannel::new());
        let http: Option<Arc<dyn DynChannel>> = match http {
            Some(settings) => Some(Arc::new(HttpChannel::new(settings)?)),
            None => None,
        };
        let webhook: Option<Arc<dyn DynChannel>> = match &providers.webhook {
            Some(settings) => Some(Arc::new(WebhookChannel::new(settings)?)),
            None => None,
        };
        let smtp: Option<Arc<dyn DynChannel>> = match &providers.smtp {
            Some(settings) => Some(Arc::new(
                SmtpChannel::new(settings)?.with_documents(Arc::new(PdfDocuments)),
            )),
            None => None,
        };
        let sms: Option<Arc<dyn DynChannel>> = match &providers.sms {
            Some(settings) => Some(Arc::new(SmsChannel::new(settings)?)),
            None => None,
        };
        let post: Option<Arc<dyn DynChannel>> = match &providers.post {
            Some(settings) => Some(Arc::new(PostChannel::new(settings)?)),
            None => None,
        };
        let fax: Option<Arc<dyn DynChannel>> = match &providers.fax {
            Some(settings) => Some(Arc::new(FaxChannel::new(settings)?)),
            None => None,
        };
        let voice: Option<Arc<dyn DynChannel>> = match &providers.voice {
            Some(settings) => Some(Arc::new(VoiceChannel::new(settings)?)),
            None => None,
        };
        let message: Option<Arc<dyn DynChannel>> = match &providers.message {
            Some(settings) => Some(Arc::new(MessagingChannel::new(settings)?)),
            None => None,
        };
        let pick = |name: &str| -> Result<Arc<dyn DynChannel>, AdapterError> {
            match name {
                "file" => Ok(Arc::clone(&file)),
                "log" => Ok(Arc::clone(&log)),
                "http" => http.clone().ok_or(AdapterError::HttpNotConfigured),
                "webhook" => webhook.clone().ok_or(AdapterError::WebhookNotConfigured),
                "sms" => sms.clone().ok_or(AdapterError::SmsNotConfigured),
                "smtp" => smtp.clone().ok_or(AdapterError::SmtpNotConfigured),
                "post" => post.clone().ok_or(AdapterError::ApiNotConfigured("post")),
                "fax" => fax.clone().ok_or(AdapterError::ApiNotConfigured("fax")),
                "voice" => voice.clone().ok_or(AdapterError::ApiNotConfigured("voice")),
                "message" => message
                    .clone()
                    .ok_or(AdapterError::ApiNotConfigured("message")),
                _ => Err(AdapterError::UnknownAdapter {
                    name: name.to_owned(),
                    hint: hint(name),
                }),
            }
        };

        let mut adapters = Adapters::new(pick(default)?);
        for (channel, name) in overrides {
            adapters = adapters.with(*channel, pick(name)?);
        }
        Ok(adapters)
    }

    /// The adapter that serves `channel`.
    pub fn get(&self, channel: Channel) -> &Arc<dyn DynChannel> {
        self.overrides.get(&channel).unwrap_or(&self.default)
    }

    /// Sends `msg` through the adapter of its channel.
    pub async fn send(&self, msg: &Message) -> Result<Delivery, SendError> {
        self.get(msg.channel).send_boxed(msg).await
    }
}

fn hint(name: &str) -> String {
    ADAPTER_NAMES
        .iter()
        .map(|known| (strsim::levenshtein(name, known), known))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, known)| format!(" (did you mean `{known}`?)"))
        .unwrap_or_default()
}

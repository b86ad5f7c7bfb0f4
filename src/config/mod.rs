//! The configuration of `relance serve`: where the database, scenarios and
//! templates are, how the HTTP server, scheduler and dispatcher are tuned,
//! which channel adapters send, and the periodic jobs with their schedules.
//!
//! This module reads and checks the YAML file and the environment; it opens
//! no connection, binds no socket and runs no job.

mod locate;
mod schedule;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};

pub use schedule::Schedule;

/// The environment variable that overrides `database.url`.
pub const DATABASE_URL_VAR: &str = "RELANCE_DATABASE_URL";

/// Channel names a `channels.per_channel` entry may name.
const CHANNELS: &[&str] = &[
    "email",
    "sms",
    "letter",
    "registered_mail",
    "fax",
    "voice",
    "message",
    "phone",
    "webhook",
];

/// A configuration that cannot be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{file}: cannot read the configuration: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// A setting is wrong; `field` is its dotted path (`jobs[0].cron`).
    #[error("{file}:{line}:{column}: {field}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    /// A cron expression is wrong.
    #[error("invalid cron expression `{expr}`: {message}")]
    Cron { expr: String, message: String },
    /// An environment variable is wrong.
    #[error("{var}: {message}")]
    Env { var: String, message: String },
}

/// Everything `relance serve` reads at start.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub scheduler: SchedulerConfig,
    pub dispatcher: DispatcherConfig,
    /// Folder of scenario files.
    pub scenarios: PathBuf,
    /// Folder of templates, one subfolder per language.
    pub templates: PathBuf,
    /// ECB rate table replacing the built-in one.
    pub rates: Option<PathBuf>,
    pub channels: ChannelsConfig,
    pub jobs: Vec<JobConfig>,
    pub retention: RetentionConfig,
    /// Partners a case is handed over to (collection agencies, bailiffs,
    /// lawyers), by the id scenarios name in `handover: { partner }`; their
    /// identity goes into the letters that announce the handover.
    pub partners: BTreeMap<String, PartnerConfig>,
    /// The clients' own identity and payment coordinates, by client id: every message of
    /// a client's cases is signed with its brand (white label) and tells how to pay it.
    /// A client not named here signs with its name alone.
    pub clients: BTreeMap<String, ClientConfig>,
    /// Partners that post signed webhooks to `/api/v1/webhooks/{id}`, by that id.
    pub webhooks_in: BTreeMap<String, InboundSourceConfig>,
}

/// One client's brand, payment coordinates and, optionally, transports of its own.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Legal name, trade name, address lines, registration numbers (`siren`, `vat`,
    /// `rcs`), phone, email, reply address, website, logo path, signature, colours
    /// (`primary`, `secondary`).
    pub brand: crate::templates::Brand,
    pub payment: ClientPaymentConfig,
    /// The client's own channel adapters (its SMTP relay, its print-and-post account…),
    /// written like the top-level `channels:`, which they replace for its cases; none:
    /// the top-level ones.
    pub channels: Option<ChannelsConfig>,
}

/// How a client's debtors pay it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientPaymentConfig {
    pub iban: String,
    pub bic: String,
    /// The start of the payment page's address; the case reference (URL-encoded) is
    /// appended, or replaces `{reference}` when the base holds it.
    pub link_base: String,
}

impl ClientPaymentConfig {
    /// The payment details of the case `reference`, as templates see them.
    pub fn details(&self, reference: &str) -> crate::channels::PaymentDetails {
        let encoded: String = reference
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let base = self.link_base.trim();
        let link = if base.is_empty() {
            String::new()
        } else if base.contains("{reference}") {
            base.replace("{reference}", &encoded)
        } else {
            format!("{base}{encoded}")
        };
        crate::channels::PaymentDetails {
            iban: self.iban.split_whitespace().collect::<Vec<_>>().join(" "),
            bic: self.bic.trim().to_string(),
            link,
            reference: String::new(),
        }
    }
}

/// Whether `iban` passes the ISO 13616 check: 15 to 34 letters and digits (spaces
/// ignored), a country code, two check digits, and the whole number modulo 97 is 1.
fn iban_is_valid(iban: &str) -> bool {
    let compact: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
    let chars: Vec<char> = compact.to_ascii_uppercase().chars().collect();
    if !(15..=34).contains(&chars.len())
        || !chars.iter().all(|c| c.is_ascii_alphanumeric())
        || !chars[..2].iter().all(|c| c.is_ascii_alphabetic())
        || !chars[2..4].iter().all(|c| c.is_ascii_digit())
    {
        return false;
    }
    let mut remainder = 0u32;
    for c in chars[4..].iter().chain(&chars[..4]) {
        let value = c.to_digit(36).unwrap_or(0);
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// One source of incoming webhooks: how it signs, the variables holding its secrets
/// (several during a rotation), what it tells about, and the client it speaks for when a
/// delivery does not say.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundSourceConfig {
    pub kind: SignatureScheme,
    pub source: InboundKind,
    #[serde(deserialize_with = "variable_names")]
    pub secrets_env: Vec<String>,
    #[serde(default)]
    pub client_id: Option<String>,
}

impl InboundSourceConfig {
    /// What is wrong with source `id`, as the field and the message.
    fn problem(&self, id: &str) -> Option<(String, String)> {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Some((
                format!("webhooks_in.{id}"),
                "a source id is letters, digits, - and _ (it is the last part of its URL)".into(),
            ));
        }
        let pays = matches!(self.source, InboundKind::Payment | InboundKind::Bank);
        if self.kind == SignatureScheme::Stripe && !pays {
            return Some((
                format!("webhooks_in.{id}.source"),
                "kind `stripe` reads Stripe payment events: the source is `payment` or `bank`"
                    .into(),
            ));
        }
        None
    }
}

/// How an incoming webhook is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureScheme {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    Standard,
    /// Stripe's `Stripe-Signature: t=…,v1=…`.
    Stripe,
}

/// What a webhook source tells relance about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InboundKind {
    /// A payment provider: payments received and refunded.
    Payment,
    /// A bank: payments received and refunded.
    Bank,
    /// A collection agent or bailiff: file accepted, payment collected, file closed.
    Agent,
    /// A credit insurer: claim received, accepted, paid, refused.
    Insurer,
    /// An email provider's delivery receipts.
    Email,
    /// An SMS provider's delivery receipts.
    Sms,
}

/// A non-empty list of environment variable names.
fn variable_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    if names.is_empty() {
        return Err(serde::de::Error::custom(
            "name at least one environment variable holding a secret",
        ));
    }
    if let Some(bad) = names
        .iter()
        .find(|n| n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(serde::de::Error::custom(format!(
            "`{bad}` is not an environment variable name (letters, digits and _)"
        )));
    }
    Ok(names)
}

/// A partner's identity, as the debtor must read it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerConfig {
    pub name: String,
    #[serde(default)]
    pub address: Vec<String>,
    /// Registration or licence line.
    #[serde(default)]
    pub registration: String,
}

/// The database the runtime stores cases, journals and the outbox in.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; `None` is the SQLite file
    /// `relance.db` in the working folder. Never holds a password in the
    /// file: that comes from `RELANCE_DATABASE_URL`.
    #[serde(deserialize_with = "url_without_password")]
    pub url: Option<String>,
    /// SQLite `synchronous` pragma (ignored for PostgreSQL).
    pub sqlite_synchronous: Synchronous,
    /// Connections in the pool.
    pub pool_size: u32,
}

/// SQLite's `synchronous` pragma in WAL mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// A power cut may lose the last commits (never corrupts the file).
    Normal,
    /// Every commit is on disk before it returns.
    Full,
}

/// The HTTP server (API, webhooks, operator pages).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Requests per second one API token may make, on average; 0 is no limit.
    pub rate_limit_per_second: u32,
    /// Requests one API token may make at once after a pause.
    pub rate_limit_burst: u32,
}

impl HttpConfig {
    /// The limits the HTTP router applies.
    pub fn limits(&self) -> crate::api::limits::Limits {
        crate::api::limits::Limits {
            body_limit: self.body_limit_bytes,
            rate_limit_per_second: self.rate_limit_per_second,
            rate_limit_burst: self.rate_limit_burst,
        }
    }
}

/// The scheduler that claims due instances and runs their steps.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Instances claimed and stepped per transaction.
    pub batch_size: u32,
    /// How long a claim lasts before another process may take it over.
    pub lease_seconds: u64,
    /// Longest sleep when nothing is due (a new event wakes it earlier).
    pub idle_max_sleep_seconds: u64,
}

/// The dispatcher that sends the outbox through the channel adapters.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DispatcherConfig {
    /// Outbox rows taken per round.
    pub batch_size: u32,
    /// Attempts before a send goes to the dead-letter queue.
    pub max_attempts: u32,
    /// First retry delay; it doubles each attempt (with jitter).
    pub backoff_base_ms: u64,
    /// Longest retry delay.
    pub backoff_max_ms: u64,
    /// Sends in flight at once.
    pub concurrency: u32,
    /// Channel name → most sends per second on that channel (a provider's
    /// limit); channels not named are not limited.
    #[serde(deserialize_with = "known_channel_rates")]
    pub rate_limits: BTreeMap<String, u32>,
}

/// Which adapter sends each channel.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelsConfig {
    /// The adapter of every channel not named in `per_channel`.
    pub default_adapter: Adapter,
    /// Folder the `file` adapter writes what would be sent to.
    pub file_dir: PathBuf,
    /// Channel name (`email`, `sms`, `registered_mail`…) → adapter.
    #[serde(deserialize_with = "known_channels")]
    pub per_channel: BTreeMap<String, Adapter>,
    /// The provider the `http` adapter posts to.
    pub http: HttpChannelConfig,
    /// The partner the `webhook` adapter posts signed files to.
    pub webhook: Option<WebhookChannelConfig>,
    /// The provider the `sms` adapter sends through.
    pub sms: Option<SmsChannelConfig>,
    /// The relay the `smtp` adapter sends email through.
    pub smtp: SmtpChannelConfig,
    /// The print-and-post provider the `post` adapter sends letters and registered mail
    /// through.
    pub post: Option<ApiChannelConfig>,
    /// The fax provider of the `fax` adapter.
    pub fax: Option<ApiChannelConfig>,
    /// The automated-call provider of the `voice` adapter.
    pub voice: Option<ApiChannelConfig>,
    /// The messaging provider of the `message` adapter.
    pub message: Option<ApiChannelConfig>,
    /// A PEM file of certificate authorities trusted for `https://` providers besides the
    /// built-in Mozilla roots (a private CA, a test server).
    pub tls_ca_file: Option<PathBuf>,
}

/// A JSON provider API (`post`, `fax`, `voice`, `message`): its URL and the environment
/// variable holding its API key, never the key itself.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiChannelConfig {
    pub url: String,
    /// The variable holding the API key, sent as `Authorization: Bearer …`.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The fax header number (`fax`), the caller id (`voice`), the sender name
    /// (`message`); `post` has none.
    #[serde(default)]
    pub sender: Option<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub allow_loopback: bool,
}

/// The `smtp` adapter: one SMTP relay. Credentials are read from the environment variables
/// named here, never from the file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpChannelConfig {
    /// The relay's host name; required when a channel uses the `smtp` adapter.
    pub host: Option<String>,
    /// Defaults to 465 with `tls: tls`, 587 with `starttls`, 25 with `none`.
    pub port: Option<u16>,
    /// `none`, `starttls` (the default) or `tls`.
    pub tls: crate::channels::SmtpTls,
    /// The variable holding the user name to log in with (no login when unset).
    pub username_env: Option<String>,
    /// The variable holding the password.
    pub password_env: Option<String>,
    /// The sender when the message carries no brand address (`Client <billing@client.example>`).
    pub from: Option<String>,
    /// Milliseconds the whole exchange may take.
    pub timeout_ms: u64,
    /// Allows a relay on a loopback or private address.
    pub allow_loopback: bool,
}

/// The `webhook` adapter: one partner URL and the variable holding its `whsec_` secret.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChannelConfig {
    pub url: String,
    pub secret_env: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub allow_loopback: bool,
}

/// The `sms` adapter: a `form` (Twilio-style) or `json` provider.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsChannelConfig {
    pub provider: SmsProviderKind,
    pub url: String,
    pub sender_id: String,
    #[serde(default)]
    pub account_env: Option<String>,
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub json_body_template: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "default_max_segments")]
    pub max_segments: u32,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub allow_loopback: bool,
}

/// The kind of API an SMS provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsProviderKind {
    Form,
    Json,
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_max_segments() -> u32 {
    crate::channels::DEFAULT_MAX_SEGMENTS
}

/// The `http` adapter: one provider URL that receives every message as JSON.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpChannelConfig {
    /// `http://host[:port][/path]`; required when a channel uses the `http` adapter.
    pub url: Option<String>,
    /// Milliseconds the whole exchange (connect, send, answer) may take.
    pub timeout_ms: u64,
    /// Allows loopback and private addresses (refused by default, so that a mistyped
    /// URL cannot reach internal services).
    pub allow_loopback: bool,
}

/// A channel adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Adapter {
    /// Writes each message to a file in `channels.file_dir`.
    File,
    /// Writes each message to the log (at `info`, without contact details).
    Log,
    /// POSTs each message as JSON to `channels.http.url`.
    Http,
    /// POSTs signed handover and claim files to `channels.webhook.url`.
    Webhook,
    /// Sends text messages through `channels.sms`.
    Sms,
    /// Sends each message as an email through `channels.smtp`.
    Smtp,
    /// Sends letters and registered mail through `channels.post`.
    Post,
    /// Sends faxes through `channels.fax`.
    Fax,
    /// Places automated calls through `channels.voice`.
    Voice,
    /// Sends automated messages through `channels.message`.
    Message,
}

impl Adapter {
    /// The adapter's name, as configuration spells it.
    pub fn name(self) -> &'static str {
        match self {
            Adapter::File => "file",
            Adapter::Log => "log",
            Adapter::Http => "http",
            Adapter::Webhook => "webhook",
            Adapter::Sms => "sms",
            Adapter::Smtp => "smtp",
            Adapter::Post => "post",
            Adapter::Fax => "fax",
            Adapter::Voice => "voice",
            Adapter::Message => "message",
        }
    }
}

/// A periodic job.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// Unique name, used in logs.
    pub name: String,
    /// 5-field cron expression, read in `timezone`.
    pub cron: String,
    /// IANA zone of the cron expression.
    #[serde(default = "default_job_timezone", deserialize_with = "iana_zone")]
    pub timezone: Tz,
    pub kind: JobKind,
}

/// What a periodic job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Recompute balances, due instances and the portfolio view.
    PortfolioRefresh,
    /// Delete what `retention` says is too old.
    RetentionCleanup,
    /// Import bank statements and match payments.
    // TODO: there is no setting yet for where statements come from (a folder
    // of CSV files or a bank API); it must exist before this job can run.
    BankImport,
}

/// How long history is kept.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days an ended instance's journal is kept.
    pub journal_days: u32,
    /// Days incoming webhook deliveries (kept to apply each once) are kept.
    pub webhook_delivery_days: u32,
}

impl Default for Config {
    /// The embedded default, used when there is no file.
    fn default() -> Self {
        Config {
            database: DatabaseConfig::default(),
            http: HttpConfig::default(),
            scheduler: SchedulerConfig::default(),
            dispatcher: DispatcherConfig::default(),
            scenarios: PathBuf::from("scenarios"),
            templates: PathBuf::from("templates"),
            rates: None,
            channels: ChannelsConfig::default(),
            jobs: Vec::new(),
            retention: RetentionConfig::default(),
            partners: BTreeMap::new(),
            clients: BTreeMap::new(),
            webhooks_in: BTreeMap::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            sqlite_synchronous: Synchronous::Full,
            pool_size: 5,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit_bytes: 1024 * 1024,
            rate_limit_per_second: 50,
            rate_limit_burst: 100,
        }
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            batch_size: 500,
            lease_seconds: 30,
            idle_max_sleep_seconds: 60,
        }
    }
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            batch_size: 100,
            max_attempts: 8,
            backoff_base_ms: 1000,
            backoff_max_ms: 3_600_000,
            concurrency: 4,
            rate_limits: BTreeMap::new(),
        }
    }
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        ChannelsConfig {
            default_adapter: Adapter::File,
            file_dir: PathBuf::from("out"),
            per_channel: BTreeMap::new(),
            http: HttpChannelConfig::default(),
            webhook: None,
            sms: None,
            smtp: SmtpChannelConfig::default(),
            tls_ca_file: None,
            post: None,
            fax: None,
            voice: None,
            message: None,
        }
    }
}

impl Default for HttpChannelConfig {
    fn default() -> Self {
        HttpChannelConfig {
            url: None,
            timeout_ms: 5000,
            allow_loopback: false,
        }
    }
}

impl Default for SmtpChannelConfig {
    fn default() -> Self {
        SmtpChannelConfig {
            host: None,
            port: None,
            tls: crate::channels::SmtpTls::default(),
            username_env: None,
            password_env: None,
            from: None,
            timeout_ms: 30_000,
            allow_loopback: false,
        }
    }
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            journal_days: 3650,
            webhook_delivery_days: 30,
        }
    }
}

fn default_job_timezone() -> Tz {
    chrono_tz::Europe::Paris
}

impl fmt::Debug for DatabaseConfig {
    /// Shows the URL with its password, if any, masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.url.as_deref().map(redact_password))
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl Config {
    /// Reads the file at `path`, then applies the environment
    /// (`RELANCE_DATABASE_URL`).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        Config::from_str(&file, &text)?.with_process_env()
    }

    /// Reads a configuration from its text; `file` names it in errors. The
    /// environment is not read. A file with no setting gives the default.
    pub fn from_str(file: &str, text: &str) -> Result<Config, ConfigError> {
        let has_content = text.lines().any(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with('#') && l != "---"
        });
        if !has_content {
            return Ok(Config::default());
        }

        let config: Config = serde_saphyr::from_str(text).map_err(|e| yaml_error(file, text, e))?;
        config.check(file, text)?;
        Ok(config)
    }

    /// Applies the environment read through `var`: `RELANCE_DATABASE_URL`,
    /// when set and not empty, replaces `database.url`.
    pub fn with_env(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        if let Some(url) = var(DATABASE_URL_VAR).filter(|u| !u.trim().is_empty()) {
            if !url.contains(':') {
                return Err(ConfigError::Env {
                    var: DATABASE_URL_VAR.to_string(),
                    message: "expected a URL such as postgres://user:password@host/db \
                              or sqlite://relance.db"
                        .to_string(),
                });
            }
            self.database.url = Some(url.trim().to_string());
        }
        Ok(self)
    }

    /// Applies the process environment (see [`Config::with_env`]).
    pub fn with_process_env(self) -> Result<Config, ConfigError> {
        self.with_env(|name| std::env::var(name).ok())
    }

    /// The parsed schedule of every job, in file order.
    pub fn schedules(&self) -> Result<Vec<(&JobConfig, Schedule)>, ConfigError> {
        self.jobs.iter().map(|j| Ok((j, j.schedule()?))).collect()
    }

    /// Checks what serde cannot: names, ranges, relations between settings.
    fn check(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        let invalid = |field: String, message: String| {
            let (line, column) = locate::place_of(text, &field).unwrap_or((1, 1));
            ConfigError::Invalid {
                file: file.to_string(),
                line,
                column,
                field,
                message,
            }
        };

        let positive: [(&str, u64); 9] = [
            ("database.pool_size", self.database.pool_size.into()),
            ("http.body_limit_bytes", self.http.body_limit_bytes as u64),
            ("scheduler.batch_size", self.scheduler.batch_size.into()),
            ("scheduler.lease_seconds", self.scheduler.lease_seconds),
            ("dispatcher.batch_size", self.dispatcher.batch_size.into()),
            (
                "dispatcher.max_attempts",
                self.dispatcher.max_attempts.into(),
            ),
            ("dispatcher.concurrency", self.dispatcher.concurrency.into()),
            ("channels.http.timeout_ms", self.channels.http.timeout_ms),
            ("channels.smtp.timeout_ms", self.channels.smtp.timeout_ms),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(invalid(field.to_string(), "must be at least 1".to_string()));
        }
        if self.http.rate_limit_per_second > 0 && self.http.rate_limit_burst == 0 {
            return Err(invalid(
                "http.rate_limit_burst".to_string(),
                "must be at least 1 while http.rate_limit_per_second is not 0".to_string(),
            ));
        }
        if self.dispatcher.backoff_base_ms > self.dispatcher.backoff_max_ms {
            return Err(invalid(
                "dispatcher.backoff_base_ms".to_string(),
                format!(
                    "is larger than dispatcher.backoff_max_ms ({})",
                    self.dispatcher.backoff_max_ms
                ),
            ));
        }

        let uses_http = self.channels.default_adapter == Adapter::Http
            || self
                .channels
                .per_channel
                .values()
                .any(|a| *a == Adapter::Http);
        match &self.channels.http.url {
            None if uses_http => {
                return Err(invalid(
                    "channels.http.url".to_string(),
                    "is required when a channel uses the http adapter \
                     (e.g. http://127.0.0.1:9000/messages)"
                        .to_string(),
                ));
            }
            Some(url) => {
                if let Err(err) =
                    crate::channels::HttpChannel::new(&self.channels.http_settings(url))
                {
                    let message = match err {
                        crate::channels::HttpError::BadUrl { reason, .. } => reason,
                    };
                    return Err(invalid("channels.http.url".to_string(), message));
                }
            }
            None => {}
        }

        if let Some((field, message)) = self.channels.smtp_problem() {
            return Err(invalid(field.to_string(), message));
        }
        if let Some((field, message)) = self.channels.api_problem() {
            return Err(invalid(field, message));
        }

        for (id, client) in &self.clients {
            if let Some(channels) = &client.channels {
                // The same checks as the top-level `channels:`, named under the client.
                let probe = Config {
                    channels: channels.clone(),
                    ..Config::default()
                };
                if let Err(ConfigError::Invalid { field, message, .. }) = probe.check(file, "") {
                    return Err(invalid(format!("clients.{id}.{field}"), message));
                }
            }
            let iban = &client.payment.iban;
            if !iban.trim().is_empty() && !iban_is_valid(iban) {
                return Err(invalid(
                    format!("clients.{id}.payment.iban"),
                    format!("`{iban}` is not a valid IBAN (its check digits do not match)"),
                ));
            }
            let link = client.payment.link_base.trim();
            if !link.is_empty() && !link.starts_with("https://") && !link.starts_with("http://") {
                return Err(invalid(
                    format!("clients.{id}.payment.link_base"),
                    "expected a web address such as https://pay.client.example/".to_string(),
                ));
            }
        }
        if let Some((field, message)) = self.webhooks_in.iter().find_map(|(id, s)| s.problem(id)) {
            return Err(invalid(field, message));
        }

        for (i, job) in self.jobs.iter().enumerate() {
            if job.name.trim().is_empty() {
                return Err(invalid(format!("jobs[{i}].name"), "is empty".to_string()));
            }
            if let Some(j) = self.jobs[..i].iter().position(|o| o.name == job.name) {
                return Err(invalid(
                    format!("jobs[{i}].name"),
                    format!("`{}` is already the name of jobs[{j}]", job.name),
                ));
            }
            if let Err(err) = job.schedule() {
                let message = match err {
                    ConfigError::Cron { message, .. } => message,
                    other => other.to_string(),
                };
                return Err(invalid(format!("jobs[{i}].cron"), message));
            }
        }
        Ok(())
    }
}

impl JobConfig {
    /// The job's cron expression read in its zone.
    pub fn schedule(&self) -> Result<Schedule, ConfigError> {
        Schedule::parse(&self.cron, self.timezone)
    }
}

impl DatabaseConfig {
    /// The URL to connect to: `database.url`, or the SQLite file
    /// `relance.db` in the working folder (created on first run).
    pub fn effective_url(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| "sqlite://relance.db?mode=rwc".to_string())
    }
}

impl SchedulerConfig {
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }

    pub fn idle_max_sleep(&self) -> Duration {
        Duration::from_secs(self.idle_max_sleep_seconds)
    }
}

impl DispatcherConfig {
    pub fn backoff_base(&self) -> Duration {
        Duration::from_millis(self.backoff_base_ms)
    }

    pub fn backoff_max(&self) -> Duration {
        Duration::from_millis(self.backoff_max_ms)
    }
}

impl ChannelsConfig {
    /// The `http` adapter's settings, when a provider URL is configured.
    pub fn http(&self) -> Option<crate::channels::HttpSettings> {
        self.http.url.as_deref().map(|url| self.http_settings(url))
    }

    fn http_settings(&self, url: &str) -> crate::channels::HttpSettings {
        crate::channels::HttpSettings {
            url: url.to_string(),
            timeout: Duration::from_millis(self.http.timeout_ms),
            allow_loopback: self.http.allow_loopback,
        }
    }

    /// The `smtp` adapter's settings, when a relay is configured, with the credentials
    /// read through `var` from the variables `username_env` and `password_env` name.
    pub fn smtp_with_env(
        &self,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<crate::channels::SmtpSettings>, ConfigError> {
        let smtp = &self.smtp;
        let Some(host) = &smtp.host else {
            return Ok(None);
        };
        let read = |name: &str| {
            var(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ConfigError::Env {
                    var: name.to_string(),
                    message: "is not set, and channels.smtp names it for the relay's login"
                        .to_string(),
                })
        };
        let credentials = match (&smtp.username_env, &smtp.password_env) {
            (Some(user), Some(password)) => Some((read(user)?, read(password)?)),
            _ => None,
        };
        Ok(Some(crate::channels::SmtpSettings {
            host: host.clone(),
            port: smtp.port.unwrap_or(smtp.tls.default_port()),
            tls: smtp.tls,
            credentials,
            from: smtp.from.clone().unwrap_or_default(),
            timeout: Duration::from_millis(smtp.timeout_ms),
            allow_loopback: smtp.allow_loopback,
        }))
    }

    /// [`ChannelsConfig::smtp_with_env`] with the process environment.
    pub fn smtp(&self) -> Result<Option<crate::channels::SmtpSettings>, ConfigError> {
        self.smtp_with_env(|name| std::env::var(name).ok())
    }

    /// What is wrong in `channels.smtp`, as the field and the message.
    fn smtp_problem(&self) -> Option<(&'static str, String)> {
        let smtp = &self.smtp;
        let uses_smtp = self.default_adapter == Adapter::Smtp
            || self.per_channel.values().any(|a| *a == Adapter::Smtp);
        if smtp.host.is_none() {
            return uses_smtp.then(|| {
                (
                    "channels.smtp.host",
                    "is required when a channel uses the smtp adapter (e.g. smtp.example.com)"
                        .to_string(),
                )
            });
        }
        if smtp.from.is_none() {
            return Some((
                "channels.smtp.from",
                "is required with channels.smtp.host (e.g. `Client <billing@client.example>`)"
                    .to_string(),
            ));
        }
        if smtp.username_env.is_some() != smtp.password_env.is_some() {
            let field = if smtp.username_env.is_none() {
                "channels.smtp.password_env"
            } else {
                "channels.smtp.username_env"
            };
            return Some((
                field,
                "username_env and password_env are set together or not at all".to_string(),
            ));
        }
        let settings = self.smtp_with_env(|_| Some("-".to_string())).ok()??;
        match crate::channels::SmtpChannel::new(&settings) {
            Ok(_) => None,
            Err(crate::channels::SmtpError::BadHost { .. }) => Some((
                "channels.smtp.host",
                "expected a host name or an address, without scheme or port".to_string(),
            )),
            Err(crate::channels::SmtpError::BadFrom { reason, .. }) => {
                Some(("channels.smtp.from", reason))
            }
        }
    }

    /// The settings of every configured provider, with secrets read through `var` (the
    /// environment): a variable that is named but unset or empty is an error.
    pub fn providers(
        &self,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<crate::channels::ProviderSettings, ConfigError> {
        let read = |name: &str| -> Result<String, ConfigError> {
            var(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ConfigError::Env {
                    var: name.to_string(),
                    message: "is not set (it holds a channel credential)".to_string(),
                })
        };
        let webhook = match &self.webhook {
            Some(w) => Some(crate::channels::WebhookSettings {
                url: w.url.clone(),
                secret: read(&w.secret_env)?,
                timeout: Duration::from_millis(w.timeout_ms),
                allow_loopback: w.allow_loopback,
            }),
            None => None,
        };
        let sms = match &self.sms {
            Some(c) => Some(crate::channels::SmsSettings {
                provider: match c.provider {
                    SmsProviderKind::Form => crate::channels::SmsProvider::Form,
                    SmsProviderKind::Json => crate::channels::SmsProvider::Json,
                },
                url: c.url.clone(),
                sender_id: c.sender_id.clone(),
                account: c.account_env.as_deref().map(read).transpose()?,
                token: c.token_env.as_deref().map(read).transpose()?,
                json_body_template: c.json_body_template.clone(),
                headers: c.headers.clone().into_iter().collect(),
                max_segments: c.max_segments,
                timeout: Duration::from_millis(c.timeout_ms),
                allow_loopback: c.allow_loopback,
            }),
            None => None,
        };
        let smtp = self.smtp_with_env(&var)?;
        let api = |config: &Option<ApiChannelConfig>| -> Result<_, ConfigError> {
            let Some(c) = config else {
                return Ok(None);
            };
            Ok(Some(crate::channels::ApiSettings {
                url: c.url.clone(),
                api_key: c.api_key_env.as_deref().map(read).transpose()?,
                sender: c.sender.clone(),
                timeout: Duration::from_millis(c.timeout_ms),
                allow_loopback: c.allow_loopback,
            }))
        };
        Ok(crate::channels::ProviderSettings {
            http: self.http(),
            webhook,
            sms,
            smtp,
            post: api(&self.post)?,
            fax: api(&self.fax)?,
            voice: api(&self.voice)?,
            message: api(&self.message)?,
        })
    }

    /// What is wrong in `channels.post`, `fax`, `voice` or `message`, as the field and the
    /// message.
    fn api_problem(&self) -> Option<(String, String)> {
        let apis = [
            (Adapter::Post, &self.post),
            (Adapter::Fax, &self.fax),
            (Adapter::Voice, &self.voice),
            (Adapter::Message, &self.message),
        ];
        for (adapter, config) in apis {
            let name = adapter.name();
            let used =
                self.default_adapter == adapter || self.per_channel.values().any(|a| *a == adapter);
            let Some(c) = config else {
                if used {
                    return Some((
                        format!("channels.{name}.url"),
                        format!(
                            "is required when a channel uses the {name} adapter \
                             (e.g. http://127.0.0.1:9000/{name})"
                        ),
                    ));
                }
                continue;
            };
            if let Err(crate::channels::HttpError::BadUrl { reason, .. }) =
                crate::channels::HttpChannel::new(&crate::channels::HttpSettings {
                    url: c.url.clone(),
                    timeout: Duration::from_millis(c.timeout_ms.max(1)),
                    allow_loopback: c.allow_loopback,
                })
            {
                return Some((format!("channels.{name}.url"), reason));
            }
            if c.timeout_ms == 0 {
                return Some((
                    format!("channels.{name}.timeout_ms"),
                    "must be at least 1".to_string(),
                ));
            }
            if adapter == Adapter::Post && c.sender.is_some() {
                return Some((
                    "channels.post.sender".to_string(),
                    "a letter has no sender setting: its letterhead is the client's brand \
                     (clients.<id>.brand)"
                        .to_string(),
                ));
            }
            if c.api_key_env
                .as_deref()
                .is_some_and(|v| v.trim().is_empty())
            {
                return Some((
                    format!("channels.{name}.api_key_env"),
                    "names no variable; give the NAME of the environment variable holding \
                     the API key"
                        .to_string(),
                ));
            }
        }
        None
    }

    /// The adapter that sends `channel`.
    pub fn adapter_for(&self, channel: &str) -> Adapter {
        self.per_channel
            .get(channel)
            .copied()
            .unwrap_or(self.default_adapter)
    }
}

/// Whether a URL carries a password (`scheme://user:secret@host` or a
/// `password=` query parameter).
fn has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let in_userinfo = authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    let in_query = url.split_once('?').is_some_and(|(_, query)| {
        query.split('&').any(|p| {
            let key = p.split('=').next().unwrap_or("").to_ascii_lowercase();
            key == "password" || key == "pass" || key == "pwd"
        })
    });
    in_userinfo || in_query
}

/// The URL with its password replaced by `***`.
fn redact_password(url: &str) -> String {
    if !has_password(url) {
        return url.to_string();
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{user}:***@{host}")
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, _)) => format!("{path}?***"),
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

fn url_without_password<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let url = Option::<String>::deserialize(d)?;
    if url.as_deref().is_some_and(has_password) {
        return Err(serde::de::Error::custom(format!(
            "the URL holds a password; never write credentials in the configuration \
             file: remove it here and set the whole URL in the environment variable \
             {DATABASE_URL_VAR}"
        )));
    }
    Ok(url)
}

fn known_channels<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Adapter>, D::Error> {
    let map = BTreeMap::<String, Adapter>::deserialize(d)?;
    if let Some(unknown) = map.keys().find(|k| !CHANNELS.contains(&k.as_str())) {
        let hint = suggestion(unknown, CHANNELS)
            .map(|s| format!("did you mean `{s}`? "))
            .unwrap_or_default();
        return Err(serde::de::Error::custom(format!(
            "unknown channel `{unknown}`; {hint}channels are {}",
            CHANNELS.join(", ")
        )));
    }
    Ok(map)
}

fn known_channel_rates<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, u32>, D::Error> {
    let map = BTreeMap::<String, u32>::deserialize(d)?;
    if let Some(unknown) = map.keys().find(|k| !CHANNELS.contains(&k.as_str())) {
        let hint = suggestion(unknown, CHANNELS)
            .map(|s| format!("did you mean `{s}`? "))
            .unwrap_or_default();
        return Err(serde::de::Error::custom(format!(
            "unknown channel `{unknown}`; {hint}channels are {}",
            CHANNELS.join(", ")
        )));
    }
    if let Some((channel, _)) = map.iter().find(|(_, rate)| **rate == 0) {
        return Err(serde::de::Error::custom(format!(
            "rate limit of `{channel}` is 0: give at least 1 send per second, or leave the channel out"
        )));
    }
    Ok(map)
}

/// The unknown name and the expected ones of serde's unknown-field message.
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected = rest
        .trim_start_matches(',')
        .trim()
        .trim_start_matches("expected")
        .trim()
        .trim_start_matches("one of")
        .split(',')
        .map(|name| name.trim().trim_matches('`').to_string())
        .filter(|name| !name.is_empty() && name != "there are no fields")
        .collect();
    Some((unknown.to_string(), expected))
}

fn iana_zone<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
    let name = String::deserialize(d)?;
    if let Ok(tz) = name.parse::<Tz>() {
        return Ok(tz);
    }
    let names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    let hint = suggestion(&name, &names)
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default();
    Err(serde::de::Error::custom(format!(
        "unknown time zone `{name}`{hint} (expected an IANA name such as Europe/Paris)"
    )))
}

/// The closest of `known` to `wanted`, if it is close enough to be a typo.
fn suggestion<'a>(wanted: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| {
            (
                strsim::damerau_levenshtein(wanted, k),
                strsim::jaro_winkler(wanted, k),
                *k,
            )
        })
        .filter(|(distance, similarity, _)| *distance <= 2 || *similarity >= 0.85)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, k)| k)
}

fn yaml_error(file: &str, text: &str, err: serde_saphyr::Error) -> ConfigError {
    let (line, column) = err
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .filter(|(line, _)| *line > 0)
        .unwrap_or((1, 1));
    let field = match locate::path_at(text, line) {
        path if path.is_empty() => "configuration".to_string(),
        path => path,
    };

    let text = err.to_string();
    let first = text
        .lines()
        .next()
        .unwrap_or("invalid YAML")
        .trim_start_matches("error: ");
    let first = match first.split_once(": ") {
        Some((place, rest)) if place.starts_with("line ") => rest,
        _ => first,
    };

    // serde-saphyr may wrap serde's own error, so it is recognised by its text:
    // "unknown field `x`, expected one of a, b" (or "expected `a`").
    let message = match unknown_field(first) {
        Some((unknown, expected)) => {
            let names: Vec<&str> = expected.iter().map(String::as_str).collect();
            let hint = suggestion(&unknown, &names)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            format!(
                "unknown setting `{unknown}`{hint} (settings here: {})",
                names.join(", ")
            )
        }
        None => first.to_string(),
    };

    ConfigError::Invalid {
        file: file.to_string(),
        line,
        column,
        field,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_with_a_password_is_detected_and_masked() {
        assert!(has_password("postgres://relance:s3cret@db/relance"));
        assert!(has_password("postgres://db/relance?user=r&password=x"));
        assert!(!has_password("postgres://relance@db/relance"));
        assert!(!has_password("sqlite://relance.db?mode=rwc"));
        assert_eq!(
            redact_password("postgres://relance:s3cret@db:5432/relance"),
            "postgres://relance:***@db:5432/relance"
        );
    }

    #[test]
    fn debug_output_never_shows_the_database_password() {
        let db = DatabaseConfig {
            url: Some("postgres://relance:s3cret@db/relance".to_string()),
            ..DatabaseConfig::default()
        };
        let shown = format!("{db:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn the_documented_client_example_parses_once_uncommented() {
        let example = include_str!("../../config.example.yaml");
        let (_, block) = example
            .split_once("clients: {}\n")
            .expect("the example documents clients");
        let text: String = std::iter::once("clients:\n".to_string())
            .chain(
                block
                    .lines()
                    .take_while(|l| l.starts_with('#'))
                    .map(|l| format!("{}\n", l.trim_start_matches('#'))),
            )
            .collect();
        let config = Config::from_str("example", &text).expect("the client example parses");
        let acme = &config.clients["acme"];
        assert_eq!(acme.brand.legal_name, "ACME Fournitures SAS");
        assert_eq!(acme.brand.registration.siren, "812 345 678");
        assert_eq!(
            acme.payment.details("acme/D-1").link,
            "https://pay.acme.example/r/acme%2FD-1"
        );
    }

    #[test]
    fn json_providers_are_read_with_their_key_from_the_environment() {
        let text = "channels:\n  per_channel: { letter: post, voice: voice }\n  post:\n    \
                    url: http://127.0.0.1:9000/letters\n    api_key_env: POST_KEY\n    \
                    allow_loopback: true\n  voice:\n    url: http://voice.example/calls\n    \
                    sender: \"+33478000002\"\n";
        let config = Config::from_str("t.yaml", text).unwrap();
        let providers = config
            .channels
            .providers(|name| (name == "POST_KEY").then(|| "k-1".to_string()))
            .unwrap();
        let post = providers.post.unwrap();
        assert_eq!(post.api_key.as_deref(), Some("k-1"));
        assert!(post.allow_loopback);
        assert_eq!(post.timeout, Duration::from_millis(10_000));
        let voice = providers.voice.unwrap();
        assert_eq!(voice.sender.as_deref(), Some("+33478000002"));
        assert_eq!(voice.api_key, None);
        assert!(matches!(
            config.channels.providers(|_| None),
            Err(ConfigError::Env { var, .. }) if var == "POST_KEY"
        ));
    }

    #[test]
    fn a_client_may_have_channels_of_its_own_checked_like_the_top_level() {
        let text = "clients:\n  acme:\n    channels:\n      per_channel: { letter: post }\n      \
                    post:\n        url: http://print.example/v1/letters\n";
        let config = Config::from_str("t.yaml", text).unwrap();
        let own = config.clients["acme"].channels.as_ref().unwrap();
        assert_eq!(own.per_channel["letter"], Adapter::Post);
        assert!(config.channels.post.is_none(), "the top level is untouched");

        let bad = "clients:\n  acme:\n    channels:\n      per_channel: { letter: post }\n";
        match Config::from_str("t.yaml", bad) {
            Err(ConfigError::Invalid { field, .. }) => {
                assert_eq!(field, "clients.acme.channels.post.url")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_used_provider_must_be_configured_and_its_settings_sound() {
        let field_of = |text: &str| match Config::from_str("t.yaml", text) {
            Err(ConfigError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field_of("channels:\n  per_channel: { fax: fax }\n"),
            "channels.fax.url"
        );
        assert_eq!(
            field_of("channels:\n  message:\n    url: ftp://m.example/\n"),
            "channels.message.url"
        );
        assert_eq!(
            field_of("channels:\n  post:\n    url: http://p.example/\n    sender: X\n"),
            "channels.post.sender"
        );
        assert_eq!(
            field_of(
                "clients:\n  acme:\n    payment: { iban: FR76 3000 6000 0112 3456 7890 188 }\n"
            ),
            "clients.acme.payment.iban"
        );
        assert_eq!(
            field_of("clients:\n  acme:\n    payment: { link_base: pay.acme.example }\n"),
            "clients.acme.payment.link_base"
        );
    }

    #[test]
    fn ibans_are_checked_by_their_check_digits() {
        assert!(iban_is_valid("FR76 3000 6000 0112 3456 7890 189"));
        assert!(iban_is_valid("DE89370400440532013000"));
        assert!(!iban_is_valid("FR76 3000 6000 0112 3456 7890 188"));
        assert!(!iban_is_valid("FR76"));
        assert!(!iban_is_valid("76FR 3000 6000 0112 3456 7890 189"));
    }

    #[test]
    fn the_payment_link_is_the_base_with_the_encoded_case_reference() {
        let mut payment = ClientPaymentConfig {
            iban: "FR76  3000 6000 0112 3456 7890 189".into(),
            bic: " BNPAFRPP ".into(),
            link_base: "https://pay.acme.example/r/".into(),
        };
        let details = payment.details("acme/D-1001");
        assert_eq!(details.link, "https://pay.acme.example/r/acme%2FD-1001");
        assert_eq!(details.iban, "FR76 3000 6000 0112 3456 7890 189");
        assert_eq!(details.bic, "BNPAFRPP");
        payment.link_base = "https://pay.acme.example/?case={reference}&lang=fr".into();
        assert_eq!(
            payment.details("acme/D-1001").link,
            "https://pay.acme.example/?case=acme%2FD-1001&lang=fr"
        );
        payment.link_base.clear();
        assert_eq!(payment.details("x").link, "");
    }

    #[test]
    fn a_typo_gets_the_closest_name() {
        assert_eq!(
            suggestion("lisen", &["listen", "body_limit_bytes"]),
            Some("listen")
        );
        assert_eq!(suggestion("zzz", &["listen", "body_limit_bytes"]), None);
    }
}

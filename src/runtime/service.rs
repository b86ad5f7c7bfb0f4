//! `relance serve`: the scheduler, the dispatcher, the HTTP port and the
//! periodic jobs in one process, stopped gracefully on SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};

use super::{
    Clock, Dispatcher, DispatcherSettings, Metrics, RuntimeError, ScenarioSet, Scheduler,
    SchedulerSettings,
};
use crate::api::{AppState, InboundSources, router_with};
use crate::channels::Adapters;
use crate::config::{ChannelsConfig, Config, JobKind};
use crate::money::RateTable;
use crate::scenario::{Channel, TemplateLookup};
use crate::store::{Store, Synchronous};
use crate::templates::TemplateStore;

/// The shipped templates as the checker sees them.
pub struct Templates(pub Arc<TemplateStore>);

impl TemplateLookup for Templates {
    fn has_template(&self, lang: &str, name: &str) -> bool {
        self.0.has(lang, name)
    }
}

/// Opens the configured database and migrates it.
pub async fn open_store(config: &Config) -> Result<Store, RuntimeError> {
    let sync = match config.database.sqlite_synchronous {
        crate::config::Synchronous::Normal => Synchronous::Normal,
        crate::config::Synchronous::Full => Synchronous::Full,
    };
    let store = Store::open(&config.database.effective_url(), sync).await?;
    store.migrate().await?;
    Ok(store)
}

/// Loads templates and scenarios as configured.
pub async fn load_scenarios(
    config: &Config,
    store: &Store,
    now: i64,
) -> Result<(Arc<TemplateStore>, Arc<ScenarioSet>), RuntimeError> {
    let templates = TemplateStore::load(&config.templates).map_err(|diags| {
        RuntimeError::Scenarios(
            diags
                .iter()
                .map(|d| {
                    crate::scenario::Diagnostic::error(
                        &d.file.display().to_string(),
                        d.line,
                        d.column,
                        d.message.clone(),
                    )
                })
                .collect(),
        )
    })?;
    let templates = Arc::new(templates);
    let lookup = Templates(templates.clone());
    let scenarios = ScenarioSet::load(&config.scenarios, Some(&lookup), store, now).await?;
    Ok((templates, Arc::new(scenarios)))
}

pub fn rate_table(config: &Config) -> Result<RateTable, RuntimeError> {
    match &config.rates {
        Some(path) => RateTable::load(path).map_err(|e| RuntimeError::Io {
            what: path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        }),
        None => Ok(RateTable::builtin()),
    }
}

fn adapters(config: &Config) -> Result<Adapters, RuntimeError> {
    // A logo the letters cannot carry is said now, not at the first letter.
    for (id, client) in &config.clients {
        let logo = client.brand.logo.trim();
        if !logo.is_empty() && !logo.contains("://") {
            crate::templates::image::Image::load(std::path::Path::new(logo)).map_err(|e| {
                RuntimeError::Io {
                    what: format!("clients.{id}.brand.logo"),
                    source: std::io::Error::other(e.to_string()),
                }
            })?;
        }
    }
    let mut adapters = channel_adapters(&config.channels, "channels")?;
    for (id, client) in &config.clients {
        if let Some(channels) = &client.channels {
            let own = channel_adapters(channels, &format!("clients.{id}.channels"))?;
            adapters = adapters.with_client(id, own);
        }
    }
    Ok(adapters)
}

/// The adapters `channels` names, with their credentials from the environment and the
/// authorities of its `tls_ca_file` trusted; `what` names the configuration section in errors.
fn channel_adapters(channels: &ChannelsConfig, what: &str) -> Result<Adapters, RuntimeError> {
    let fail = |e: String| RuntimeError::Io {
        what: what.to_string(),
        source: std::io::Error::other(e),
    };
    if let Some(path) = &channels.tls_ca_file {
        crate::channels::trust_ca_file(path).map_err(|e| fail(e.to_string()))?;
    }
    let overrides = channels
        .per_channel
        .iter()
        .filter_map(|(c, a)| c.parse::<Channel>().ok().map(|c| (c, a.name().to_string())))
        .collect();
    let providers = channels
        .providers(|name| std::env::var(name).ok())
        .map_err(|e| fail(e.to_string()))?;
    Adapters::from_providers(
        channels.default_adapter.name(),
        &overrides,
        &channels.file_dir,
        &providers,
    )
    .map_err(|e| fail(e.to_string()))
}

/// A name for this process's leases: unique per process start.
pub fn owner_name() -> String {
    format!(
        "relance-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    )
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Runs everything until a signal asks to stop.
pub async fn serve(config: Config, clock: Clock) -> Result<(), RuntimeError> {
    let inbound = InboundSources::from_config(&config.webhooks_in, |name| std::env::var(name).ok())
        .map_err(|e| RuntimeError::Io {
            what: "webhooks_in".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let store = open_store(&config).await?;
    let (templates, scenarios) = load_scenarios(&config, &store, clock.now_ms()).await?;
    let rates = Arc::new(rate_table(&config)?);
    let owner = owner_name();
    let metrics = Arc::new(Metrics::default());
    let notify = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = watch::channel(false);

    let scheduler = Scheduler {
        store: store.clone(),
        scenarios: scenarios.clone(),
        rates,
        owner: owner.clone(),
        settings: SchedulerSettings {
            batch_size: config.scheduler.batch_size as u64,
            lease: config.scheduler.lease(),
            idle_max_sleep: config.scheduler.idle_max_sleep(),
        },
        clock: clock.clone(),
        notify: notify.clone(),
        metrics: metrics.clone(),
    };
    let dispatcher = Dispatcher {
        store: store.clone(),
        adapters: adapters(&config)?,
        templates,
        owner: owner.clone(),
        settings: DispatcherSettings {
            batch_size: config.dispatcher.batch_size as u64,
            max_attempts: config.dispatcher.max_attempts,
            backoff_base: config.dispatcher.backoff_base(),
            backoff_max: config.dispatcher.backoff_max(),
            concurrency: config.dispatcher.concurrency as usize,
            rate_limits: config
                .dispatcher
                .rate_limits
                .iter()
                .filter_map(|(c, r)| c.parse::<Channel>().ok().map(|c| (c, *r)))
                .collect(),
            clients: config.clients.clone(),
            ..DispatcherSettings::default()
        },
        clock: clock.clone(),
        metrics: metrics.clone(),
        partners: config
            .partners
            .iter()
            .map(|(id, p)| {
                (
                    id.clone(),
                    crate::channels::Agent {
                        name: p.name.clone(),
                        address: p.address.clone(),
                        registration: p.registration.clone(),
                    },
                )
            })
            .collect(),
        limiter: Default::default(),
    };

    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .map_err(|e| RuntimeError::Io {
            what: format!("listening on {}", config.http.listen),
            source: e,
        })?;
    let address = listener.local_addr().map_err(|e| RuntimeError::Io {
        what: "listener".into(),
        source: e,
    })?;
    info!(
        http.address = %address,
        database = %redact(&config.database.effective_url()),
        clock.speed = clock.speed(),
        scenarios = scenarios.current().len(),
        "relance is serving"
    );
    let app = router_with(
        AppState {
            store: store.clone(),
            metrics: metrics.clone(),
            notify: notify.clone(),
            clock: clock.clone(),
            inbound: Arc::new(inbound),
        },
        config.http.limits(),
    );
    let mut http_stop = stop_rx.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = http_stop.changed().await;
            })
            .await
    });
    let sched_stop = stop_rx.clone();
    let sched = tokio::spawn(async move { scheduler.run(sched_stop).await });
    let disp_stop = stop_rx.clone();
    let disp = tokio::spawn(async move { dispatcher.run(disp_stop).await });
    let jobs = tokio::spawn(run_jobs(
        config.clone(),
        store.clone(),
        clock.clone(),
        stop_rx.clone(),
    ));

    shutdown_signal().await;
    info!("stopping: finishing the work in flight");
    let _ = stop_tx.send(true);
    for (name, task) in [("scheduler", sched), ("dispatcher", disp)] {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => error!(error = %err, "{name} stopped with an error"),
            Err(err) => error!(error = %err, "{name} panicked"),
        }
    }
    let _ = jobs.await;
    let _ = http.await;
    store.release(&owner).await?;
    info!("stopped; leases released");
    Ok(())
}

/// The database URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Periodic jobs from the configuration's cron expressions.
async fn run_jobs(config: Config, store: Store, clock: Clock, mut stop: watch::Receiver<bool>) {
    let schedules = match config.schedules() {
        Ok(s) => s,
        Err(err) => {
            error!(error = %err, "periodic jobs disabled");
            return;
        }
    };
    if schedules.is_empty() {
        return;
    }
    loop {
        let now = clock.now();
        let next = schedules
            .iter()
            .filter_map(|(job, s)| s.next_after(now).map(|t| (t, *job)))
            .min_by_key(|(t, _)| *t);
        let Some((at, job)) = next else { return };
        let wait = clock.real_wait_until(at.timestamp_millis());
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        match job.kind {
            JobKind::RetentionCleanup => match retention(&store, &config, clock.now_ms()).await {
                Ok(n) => info!(job = %job.name, removed = n, "retention clean-up done"),
                Err(err) => warn!(job = %job.name, error = %err, "retention clean-up failed"),
            },
            JobKind::PortfolioRefresh => match store.status(clock.now_ms()).await {
                Ok(report) => info!(
                    job = %job.name,
                    instances = ?report.instances,
                    outbox = ?report.outbox,
                    due = report.due_now,
                    "portfolio refreshed"
                ),
                Err(err) => warn!(job = %job.name, error = %err, "portfolio refresh failed"),
            },
            JobKind::BankImport => {
                // TODO: bank statement imports need a source (folder or bank
                // API) in the configuration; until then the job only says so.
                warn!(job = %job.name, "bank statement import has no source configured yet");
            }
        }
        // Never run the same job twice for one instant.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn retention(store: &Store, config: &Config, now: i64) -> Result<u64, RuntimeError> {
    let day = 86_400_000i64;
    let n = store
        .purge(
            now - config.retention.journal_days as i64 * day,
            now - config.retention.webhook_delivery_days as i64 * day,
        )
        .await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_with_channels_of_its_own_sends_through_them_and_the_others_do_not() {
        let text = "channels:\n  default_adapter: file\nclients:\n  acme:\n    channels:\n      \
                    default_adapter: log\n";
        let config = Config::from_str("t.yaml", text).unwrap();
        let adapters = adapters(&config).unwrap();
        assert_eq!(
            adapters.for_client("acme").get(Channel::Email).name(),
            "log"
        );
        assert_eq!(
            adapters.for_client("globex").get(Channel::Email).name(),
            "file"
        );
        assert_eq!(adapters.get(Channel::Letter).name(), "file");
    }
}

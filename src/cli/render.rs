//! `relance render`: shows what one template gives for one case, as text or as the PDF a
//! letter channel would send. It opens the case on the first scenario that applies, runs it
//! (with the events of `--events`, if given) up to the end of `--today`, so that the
//! interest and costs charged by the steps run by then are in the amounts, builds the message
//! as the dispatcher does, and prints or writes it; it sends nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{NaiveDate, TimeZone, Utc};

use crate::channels::{RenderExtras, render_message_with};
use crate::engine::{Action, ActionKind, shared};
use crate::rules::Rules;
use crate::scenario::{self, Channel};
use crate::simulate;
use crate::templates::image::Image;
use crate::templates::pdf::{InvoiceLine, InvoiceTable, Letter};
use crate::templates::{Brand, Rendered, TemplateStore};

/// The arguments of `relance render`.
#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// Template name, e.g. `formal_notice`.
    pub template: String,
    /// The case file (client, debtor, invoices).
    #[arg(long = "case")]
    pub case_file: PathBuf,
    /// Language (default: the debtor's).
    #[arg(long)]
    pub lang: Option<String>,
    /// Write to this file instead of printing; a name ending in `.pdf` implies --pdf.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write a PDF letter (to --out, else to TEMPLATE.pdf).
    #[arg(long)]
    pub pdf: bool,
    /// Template folder.
    #[arg(long, default_value = "templates")]
    pub templates: PathBuf,
    /// Scenario folder: the first scenario (by file name) that applies opens the case.
    #[arg(long, default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// The client's brand, as YAML or JSON (default: the client's name signs).
    #[arg(long)]
    pub brand: Option<PathBuf>,
    /// Payment details, collection agent, dispute reason, as YAML or JSON
    /// (`payment: {iban: …}`, `agent: {name: …, address: […]}`).
    #[arg(long)]
    pub extras: Option<PathBuf>,
    /// The day the message is dated, and the case run up to (default: today in the debtor's
    /// time zone).
    #[arg(long)]
    pub today: Option<NaiveDate>,
    /// Events that happened to the case before `--today` (an events file, as for
    /// `relance simulate`).
    #[arg(long)]
    pub events: Option<PathBuf>,
}

fn read_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_saphyr::from_str(&text).with_context(|| format!("{}", path.display()))
}

/// Runs `relance render`.
pub fn render_cmd(args: &RenderArgs) -> anyhow::Result<i32> {
    let store = TemplateStore::load(&args.templates).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("templates do not load:\n{}", lines.join("\n"))
    })?;

    let case_name = args.case_file.display().to_string();
    let case_text =
        std::fs::read_to_string(&args.case_file).with_context(|| format!("reading {case_name}"))?;
    let case_file = simulate::parse_case(&case_name, &case_text).map_err(|err| {
        let lines: Vec<String> = err.0.iter().map(|d| d.render(Some(&case_text))).collect();
        anyhow::anyhow!("{}", lines.join("\n"))
    })?;

    let rules = Rules::new();
    let mut files = Vec::new();
    super::files_below(&args.scenarios, &["yaml", "yml"], &mut files);
    let mut scenarios = Vec::new();
    for file in &files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {name}"))?;
        if let Some(s) = scenario::load_checked(&rules, &name, &text, None).scenario {
            scenarios.push(s);
        }
    }
    let engine = shared();
    let opened = simulate::opened_at(&case_file);
    let Some(chosen) = engine.choose(&scenarios, &case_file.case, opened)? else {
        bail!(
            "no scenario in {} applies to case {}",
            args.scenarios.display(),
            case_file.case.id
        );
    };
    let tz = case_file.case.debtor.timezone;
    let today = args
        .today
        .unwrap_or_else(|| Utc::now().with_timezone(&tz).date_naive());
    let events = match &args.events {
        Some(path) => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {name}"))?;
            simulate::parse_events(&name, &text, tz).map_err(|err| {
                let lines: Vec<String> = err.0.iter().map(|d| d.render(Some(&text))).collect();
                anyhow::anyhow!("{}", lines.join("\n"))
            })?
        }
        None => Vec::new(),
    };
    let until = simulate::end_of_day(tz, today);
    if until < opened {
        bail!("--today {today} is before the case opens");
    }
    let instance = simulate::run(
        &engine,
        chosen,
        case_file.case.clone(),
        &events,
        opened,
        until,
    )?
    .instance;

    let lang = args
        .lang
        .clone()
        .unwrap_or_else(|| instance.case.debtor.language.clone());
    let mut brand: Brand = match &args.brand {
        Some(p) => read_yaml(p)?,
        None => Brand::default(),
    };
    if brand.legal_name.trim().is_empty() {
        brand.legal_name.clone_from(&instance.case.client.name);
    }
    let extras: RenderExtras = match &args.extras {
        Some(p) => read_yaml(p)?,
        None => RenderExtras::default(),
    };

    let action = Action {
        key: format!("render/{}/{}", instance.case.id, args.template),
        at: tz
            .from_local_datetime(&today.and_hms_opt(9, 0, 0).unwrap_or_default())
            .earliest()
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc)),
        step: "render".into(),
        kind: ActionKind::Send {
            channel: Channel::Letter,
            template: args.template.clone(),
            language: lang.clone(),
            attach: Vec::new(),
        },
    };
    let message = render_message_with(&store, &brand, &instance, &action, today, &extras)?;

    let wants_pdf = args.pdf
        || args
            .out
            .as_ref()
            .is_some_and(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf")));
    if wants_pdf {
        let rendered = Rendered {
            subject: message.subject.clone(),
            body: message.body.clone(),
        };
        let mut letter = Letter::from_rendered(&brand, &rendered);
        if !brand.logo.trim().is_empty() && !brand.logo.contains("://") {
            letter.logo = Some(Image::load(Path::new(brand.logo.trim()))?);
        }
        if letter.recipient.is_empty() {
            letter.recipient = std::iter::once(message.to.name.clone())
                .chain(message.to.address.iter().cloned())
                .collect();
        }
        if args.template == "invoice_copy" {
            letter.invoices = Some(InvoiceTable {
                lang,
                lines: instance
                    .case
                    .open_invoices()
                    .map(|inv| InvoiceLine {
                        number: inv.number.clone(),
                        issued: inv.issued,
                        due: inv.due,
                        amount: inv.amount,
                        balance: inv.open(),
                        currency: inv.currency.code().to_owned(),
                    })
                    .collect(),
            });
        }
        let bytes = letter.to_pdf()?;
        let out = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}.pdf", args.template)));
        std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {}", out.display());
        return Ok(0);
    }

    let mut text = String::new();
    if let Some(subject) = &message.subject {
        text.push_str(&format!("Subject: {subject}\n\n"));
    }
    text.push_str(&message.body);
    match &args.out {
        Some(out) => {
            std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?
        }
        None => print!("{text}"),
    }
    Ok(0)
}

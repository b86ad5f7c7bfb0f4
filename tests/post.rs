//! The print-and-post, fax, voice and messaging adapters at the HTTP level, against local
//! providers on 127.0.0.1: the request each sends (the PDF read back with `pdftotext`, the
//! address, the amounts), the idempotency key and the API key, how answers map onto what
//! the dispatcher decides, and, end to end, a registered formal notice whose tracking number
//! is stored and whose proof of delivery reaches the case's journal.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use relance::api::{AppState, router};
use relance::channels::{
    Adapters, ApiSettings, Channel as _, Delivery, DocumentData, FaxChannel, LogChannel, Message,
    MessagingChannel, PaymentDetails, PostChannel, RenderExtras, SendError, VoiceChannel,
    render_message_with,
};
use relance::config::{ClientConfig, ClientPaymentConfig};
use relance::engine::{Action, ActionKind, Engine, Instance, shared};
use relance::money::RateTable;
use relance::rules::Rules;
use relance::runtime::service::Templates;
use relance::runtime::{
    Clock, Dispatcher, DispatcherSettings, Metrics, ScenarioSet, Scheduler, SchedulerSettings,
    import_batch,
};
use relance::scenario::{Attachment, Channel, load_checked};
use relance::simulate::{self, parse_case};
use relance::templates::{Brand, BrandRegistration, TemplateStore};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

const IBAN: &str = "FR76 3000 6000 0112 3456 7890 189";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One request a provider received.
#[derive(Clone, Debug)]
struct Request {
    head: String,
    json: Value,
}

impl Request {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    /// The bytes of a base64 document of the request (`document`, `enclosures[0]`…).
    fn document(&self, pointer: &str) -> Vec<u8> {
        let doc = self
            .json
            .pointer(pointer)
            .unwrap_or_else(|| panic!("no {pointer} in {}", self.json));
        assert_eq!(doc["content_type"], "application/pdf");
        BASE64
            .decode(doc["content_base64"].as_str().expect("base64 content"))
            .expect("valid base64")
    }
}

type Answer = Box<dyn Fn(&Request) -> (u16, String) + Send + Sync>;

/// A JSON provider on 127.0.0.1 answering each request with `answer`; keeps what it got.
async fn provider(answer: Answer) -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/send", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 16384];
            let (head, body) = loop {
                let n = conn.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break (String::new(), Vec::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break (head, buf[end + 4..end + 4 + len].to_vec());
                }
            };
            let request = Request {
                head,
                json: serde_json::from_slice(&body).unwrap_or(Value::Null),
            };
            let (status, body) = answer(&request);
            kept.lock().unwrap().push(request);
            let text = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(text.as_bytes()).await.ok();
        }
    });
    (url, seen)
}

/// A provider that answers `status` and `body` to everything.
async fn fixed(status: u16, body: &'static str) -> (String, Arc<Mutex<Vec<Request>>>) {
    provider(Box::new(move |_| (status, body.to_string()))).await
}

fn settings(url: &str, key: &str) -> ApiSettings {
    ApiSettings {
        url: url.to_string(),
        api_key: Some(key.to_string()),
        sender: None,
        timeout: Duration::from_secs(5),
        allow_loopback: true,
    }
}

/// Whether pdftotext is there; without it the PDF checks are skipped, except under CI.
fn have_pdftotext() -> bool {
    let found = Command::new("pdftotext").arg("-v").output().is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "pdftotext is missing under CI=true: install poppler-utils"
        );
        eprintln!("skipped: pdftotext (poppler-utils) is not installed");
    }
    found
}

/// The text of a PDF, with the no-break spaces of French amounts as plain spaces.
fn pdf_text(bytes: &[u8], name: &str) -> String {
    assert!(bytes.starts_with(b"%PDF-"), "{name} is a PDF");
    let dir = support::scratch(name);
    let file = dir.join("doc.pdf");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .unwrap();
    assert!(out.status.success(), "pdftotext reads {name}");
    String::from_utf8(out.stdout)
        .unwrap()
        .replace(['\u{a0}', '\u{202f}'], " ")
}

fn brand() -> Brand {
    Brand {
        legal_name: "ACME Fournitures SAS".into(),
        trade_name: "ACME".into(),
        address: vec!["4 quai Perrache".into(), "69002 Lyon".into()],
        registration: BrandRegistration {
            siren: "812 345 678".into(),
            ..BrandRegistration::default()
        },
        phone: "+33 4 78 00 00 00".into(),
        email: "credit@acme.example".into(),
        ..Brand::default()
    }
}

/// The example French company case, opened under b2b-france.
fn instance() -> Instance {
    let source = std::fs::read_to_string("scenarios/b2b-france.yaml").unwrap();
    let scenario = load_checked(&Rules::new(), "b2b-france.yaml", &source, None)
        .scenario
        .expect("b2b-france loads");
    let text = std::fs::read_to_string("examples/case-fr-company.yaml").unwrap();
    let case = parse_case("case-fr-company.yaml", &text).unwrap().case;
    let opened = Utc.with_ymd_and_hms(2026, 1, 15, 0, 0, 0).unwrap();
    shared().start(&scenario, case, opened).unwrap().instance
}

/// `template` on `channel` for the example case, built as the dispatcher builds it.
fn message(template: &str, channel: Channel, attach: Vec<Attachment>) -> Message {
    let store = TemplateStore::load(Path::new("templates")).expect("the shipped templates load");
    let today = NaiveDate::from_ymd_opt(2026, 3, 20).unwrap();
    let inst = instance();
    let action = Action {
        key: format!("acme/D-1001/v1/{template}/1"),
        at: Utc.with_ymd_and_hms(2026, 3, 20, 9, 0, 0).unwrap(),
        step: "notice".into(),
        kind: ActionKind::Send {
            channel,
            template: template.into(),
            language: "fr".into(),
            attach,
        },
    };
    let extras = RenderExtras {
        payment: PaymentDetails {
            iban: IBAN.into(),
            link: "https://pay.acme.example/r/acme%2FD-1001".into(),
            ..PaymentDetails::default()
        },
        ..RenderExtras::default()
    };
    let mut msg = render_message_with(&store, &brand(), &inst, &action, today, &extras).unwrap();
    msg.payload["documents"] = DocumentData::of(&inst, today).to_payload();
    msg
}

#[tokio::test]
async fn a_registered_notice_goes_out_as_a_pdf_with_its_address_amounts_key_and_api_key() {
    let (url, seen) = fixed(201, r#"{"id": "L-77", "tracking_number": "1A00000000001"}"#).await;
    let post = PostChannel::new(&settings(&url, "k-post-s3cret")).unwrap();
    let msg = message(
        "formal_notice_registered",
        Channel::RegisteredMail,
        vec![Attachment::Invoices],
    );

    let sent = post.send(&msg).await;
    assert_eq!(
        sent,
        Ok(Delivery::Sent {
            provider_id: Some("1A00000000001".into())
        }),
        "the tracking number is the provider id"
    );

    let request = seen.lock().unwrap()[0].clone();
    assert!(request.head.starts_with("POST /v1/send HTTP/1.1"));
    assert_eq!(request.header("Idempotency-Key"), Some(msg.key.clone()));
    assert_eq!(
        request.header("Authorization").as_deref(),
        Some("Bearer k-post-s3cret")
    );
    assert_eq!(
        request.header("Content-Type").as_deref(),
        Some("application/json")
    );
    let json = &request.json;
    assert_eq!(json["registered"], true);
    assert_eq!(json["reference"], msg.key.as_str());
    assert_eq!(json["recipient"]["name"], "Boulangerie Martin SARL");
    assert_eq!(
        json["recipient"]["address"],
        serde_json::json!(["12 rue des Lilas", "69003 Lyon", "FR"])
    );
    assert_eq!(json["sender"]["name"], "ACME Fournitures SAS");
    assert_eq!(json["enclosures"].as_array().map(Vec::len), Some(2));

    if !have_pdftotext() {
        return;
    }
    let letter = pdf_text(&request.document("/document"), "post_notice");
    for expected in [
        "ACME Fournitures SAS",
        "4 quai Perrache",
        "Boulangerie Martin SARL",
        "12 rue des Lilas",
        "69003 Lyon",
        "LETTRE RECOMMANDÉE AVEC ACCUSÉ DE RÉCEPTION",
        "F-2026-0142",
        "1 250,00",
        "480,50",
        "FR76 3000",
    ] {
        assert!(letter.contains(expected), "`{expected}` in:\n{letter}");
    }
    let copy = pdf_text(&request.document("/enclosures/0"), "post_copy");
    for expected in [
        "Copie de la facture F-2026-0142",
        "Boulangerie Martin SARL",
        "1 250,00",
    ] {
        assert!(copy.contains(expected), "`{expected}` in:\n{copy}");
    }
    assert!(!copy.contains("F-2026-0178"), "one invoice a copy:\n{copy}");
}

#[tokio::test]
async fn a_plain_letter_is_sent_unregistered() {
    let (url, seen) = fixed(200, r#"{"tracking_number": "LT-1"}"#).await;
    let post = PostChannel::new(&settings(&url, "k")).unwrap();
    let msg = message("reminder_letter", Channel::Letter, Vec::new());
    post.send(&msg).await.unwrap();
    let request = seen.lock().unwrap()[0].clone();
    assert_eq!(request.json["registered"], false);
    assert_eq!(request.json["enclosures"], serde_json::json!([]));
}

#[tokio::test]
async fn post_provider_answers_map_onto_retry_dead_letter_and_duplicate() {
    let msg = message("reminder_letter", Channel::Letter, Vec::new());
    for (status, body, expected) in [
        (503, "{}", "retryable"),
        (429, r#"{"error":"slow down"}"#, "retryable"),
        (401, r#"{"error":"bad key"}"#, "permanent"),
        (422, r#"{"error":"address not deliverable"}"#, "permanent"),
        (302, "", "permanent"),
    ] {
        let (url, _) = fixed(status, body).await;
        let got = PostChannel::new(&settings(&url, "k"))
            .unwrap()
            .send(&msg)
            .await;
        let kind = match got {
            Err(SendError::Retryable(_)) => "retryable",
            Err(SendError::Permanent(_)) => "permanent",
            other => panic!("{status}: {other:?}"),
        };
        assert_eq!(kind, expected, "{status}");
    }

    let (url, _) = fixed(409, r#"{"tracking_number": "LT-9"}"#).await;
    assert_eq!(
        PostChannel::new(&settings(&url, "k"))
            .unwrap()
            .send(&msg)
            .await,
        Ok(Delivery::Sent {
            provider_id: Some("LT-9".into())
        }),
        "a key the provider has keeps its tracking number"
    );
    let (url, _) = fixed(409, "{}").await;
    assert_eq!(
        PostChannel::new(&settings(&url, "k"))
            .unwrap()
            .send(&msg)
            .await,
        Ok(Delivery::Duplicate)
    );
}

#[tokio::test]
async fn a_letter_without_an_address_or_to_a_loopback_provider_never_leaves() {
    let (url, seen) = fixed(200, "{}").await;
    let mut msg = message("reminder_letter", Channel::Letter, Vec::new());
    msg.to.address.clear();
    let post = PostChannel::new(&settings(&url, "k")).unwrap();
    assert!(matches!(
        post.send(&msg).await,
        Err(SendError::Permanent(_))
    ));

    let guarded = PostChannel::new(&ApiSettings {
        allow_loopback: false,
        ..settings(&url, "k")
    })
    .unwrap();
    let msg = message("reminder_letter", Channel::Letter, Vec::new());
    assert!(matches!(
        guarded.send(&msg).await,
        Err(SendError::Permanent(why)) if why.contains("allow_loopback")
    ));
    assert!(seen.lock().unwrap().is_empty(), "no request was made");
}

#[tokio::test]
async fn a_fax_sends_the_pdf_to_the_debtors_fax_number_with_the_key() {
    let (url, seen) = fixed(202, r#"{"fax_id": "FX-5"}"#).await;
    let fax = FaxChannel::new(&ApiSettings {
        sender: Some("+33478000001".into()),
        ..settings(&url, "k-fax")
    })
    .unwrap();
    let mut msg = message("fax", Channel::Fax, Vec::new());
    assert!(
        matches!(fax.send(&msg).await, Err(SendError::Permanent(why)) if why.contains("fax number")),
        "no fax number, no fax"
    );
    assert!(seen.lock().unwrap().is_empty());

    msg.to.fax = Some("+33 4 72 00 00 00".into());
    assert_eq!(
        fax.send(&msg).await,
        Ok(Delivery::Sent {
            provider_id: Some("FX-5".into())
        })
    );
    let request = seen.lock().unwrap()[0].clone();
    assert_eq!(request.header("Idempotency-Key"), Some(msg.key.clone()));
    assert_eq!(
        request.header("Authorization").as_deref(),
        Some("Bearer k-fax")
    );
    assert_eq!(request.json["to"], "+33472000000");
    assert_eq!(request.json["from"], "+33478000001");
    assert_eq!(request.json["sender_name"], "ACME Fournitures SAS");

    if !have_pdftotext() {
        return;
    }
    let text = pdf_text(&request.document("/document"), "fax");
    for expected in [
        "ACME Fournitures SAS",
        "TÉLÉCOPIE",
        "Boulangerie Martin SARL",
        "F-2026-0142",
        "1 730,50",
    ] {
        assert!(text.contains(expected), "`{expected}` in:\n{text}");
    }
}

#[tokio::test]
async fn a_call_reads_the_rendered_script_to_the_debtors_phone() {
    let (url, seen) = fixed(201, r#"{"call_id": "CA-1"}"#).await;
    let voice = VoiceChannel::new(&ApiSettings {
        sender: Some("+33478000002".into()),
        ..settings(&url, "k-voice")
    })
    .unwrap();
    let msg = message("contact_message", Channel::Voice, Vec::new());
    assert_eq!(
        voice.send(&msg).await,
        Ok(Delivery::Sent {
            provider_id: Some("CA-1".into())
        })
    );
    let request = seen.lock().unwrap()[0].clone();
    assert_eq!(request.header("Idempotency-Key"), Some(msg.key.clone()));
    assert_eq!(
        request.header("Authorization").as_deref(),
        Some("Bearer k-voice")
    );
    assert_eq!(
        request.json["to"], "+33612345678",
        "no landline: the mobile"
    );
    assert_eq!(request.json["from"], "+33478000002");
    assert_eq!(request.json["language"], "fr");
    let script = request.json["script"].as_str().unwrap();
    assert!(script.starts_with("Bonjour, ici ACME."), "{script}");
    assert!(script.contains("acme/D-1001"), "{script}");

    let (url, _) = fixed(500, "{}").await;
    let down = VoiceChannel::new(&settings(&url, "k")).unwrap();
    assert!(matches!(
        down.send(&msg).await,
        Err(SendError::Retryable(_))
    ));
}

#[tokio::test]
async fn an_automated_message_goes_to_the_mobile_under_the_brand() {
    let (url, seen) = fixed(200, r#"{"message_id": "MS-3"}"#).await;
    let messaging = MessagingChannel::new(&settings(&url, "k-msg")).unwrap();
    let msg = message("reminder_message", Channel::Message, Vec::new());
    assert_eq!(
        messaging.send(&msg).await,
        Ok(Delivery::Sent {
            provider_id: Some("MS-3".into())
        })
    );
    let request = seen.lock().unwrap()[0].clone();
    assert_eq!(request.header("Idempotency-Key"), Some(msg.key.clone()));
    assert_eq!(
        request.header("Authorization").as_deref(),
        Some("Bearer k-msg")
    );
    assert_eq!(request.json["to"], "+33612345678");
    assert_eq!(request.json["sender"], "ACME");
    let text = request.json["text"]
        .as_str()
        .unwrap()
        .replace(['\u{a0}', '\u{202f}'], " ");
    assert!(text.contains("1 730,50 €"), "{text}");
    assert!(
        text.contains("https://pay.acme.example/r/acme%2FD-1001"),
        "{text}"
    );

    let mut nobody = msg.clone();
    nobody.to.mobile = None;
    assert!(matches!(
        messaging.send(&nobody).await,
        Err(SendError::Permanent(_))
    ));
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn the_adapter_table_routes_letters_fax_voice_and_messages_to_their_providers() {
    let providers = relance::channels::ProviderSettings {
        post: Some(settings("http://127.0.0.1:9/post", "k")),
        fax: Some(settings("http://127.0.0.1:9/fax", "k")),
        voice: Some(settings("http://127.0.0.1:9/voice", "k")),
        message: Some(settings("http://127.0.0.1:9/message", "k")),
        ..Default::default()
    };
    let overrides = BTreeMap::from([
        (Channel::Letter, "post".to_string()),
        (Channel::RegisteredMail, "post".to_string()),
        (Channel::Fax, "fax".to_string()),
        (Channel::Voice, "voice".to_string()),
        (Channel::Message, "message".to_string()),
    ]);
    let dir = support::scratch("post_table");
    let adapters = Adapters::from_providers("log", &overrides, &dir, &providers).unwrap();
    for (channel, name) in [
        (Channel::Letter, "post"),
        (Channel::RegisteredMail, "post"),
        (Channel::Fax, "fax"),
        (Channel::Voice, "voice"),
        (Channel::Message, "message"),
        (Channel::Email, "log"),
    ] {
        assert_eq!(adapters.get(channel).name(), name, "{channel}");
    }

    let missing = Adapters::from_providers(
        "log",
        &overrides,
        &dir,
        &relance::channels::ProviderSettings::default(),
    );
    assert_eq!(
        missing.unwrap_err().to_string(),
        "the post adapter is chosen but channels.post.url is not set"
    );
}

// End to end: the dispatcher, the post provider and a delivery receipt.

fn utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap()
}

/// One POST over a fresh connection: (status, body).
async fn post_json(addr: std::net::SocketAddr, path: &str, body: &str) -> (u16, String) {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
        .await
        .expect("the server answers within 10 s")
        .unwrap();
    let text = String::from_utf8(answer).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        body.to_string(),
    )
}

#[tokio::test]
async fn a_registered_notice_gets_its_tracking_number_and_its_proof_of_delivery_reaches_the_journal()
 {
    let (store, _) = support::sqlite_store("post_e2e").await;
    let templates = Arc::new(TemplateStore::load(&root().join("templates")).unwrap());
    let scenarios = Arc::new(
        ScenarioSet::load(
            &root().join("scenarios"),
            Some(&Templates(templates.clone())),
            &store,
            0,
        )
        .await
        .unwrap(),
    );
    let rates = Arc::new(RateTable::builtin());
    let metrics = Arc::new(Metrics::default());

    // The example case, imported.
    let file = "examples/case-fr-company.yaml";
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let parsed = simulate::parse_case(file, &text).unwrap();
    let opened = simulate::opened_at(&parsed);
    let engine = Engine {
        rules: scenarios.rules(),
        rates: &rates,
    };
    let current: Vec<_> = scenarios.current().iter().map(|s| (**s).clone()).collect();
    let sc = engine
        .choose(&current, &parsed.case, opened)
        .unwrap()
        .unwrap();
    let started = engine.start(sc, parsed.case.clone(), opened).unwrap();
    let id = started.instance.id.clone();
    let batch = import_batch(&[(parsed.case, sc, started)], opened);
    store
        .import(&batch, opened.timestamp_millis())
        .await
        .unwrap();

    // Letters go to the post provider, which numbers them; the rest to the log.
    let issued = Arc::new(AtomicU32::new(0));
    let counter = issued.clone();
    let (url, seen) = provider(Box::new(move |_| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        (201, format!(r#"{{"tracking_number": "1A{n:011}"}}"#))
    }))
    .await;
    let post = Arc::new(PostChannel::new(&settings(&url, "k-post")).unwrap());
    let adapters = Adapters::new(Arc::new(LogChannel::new()))
        .with(Channel::Letter, post.clone())
        .with(Channel::RegisteredMail, post);
    let clients = BTreeMap::from([(
        "acme".to_string(),
        ClientConfig {
            brand: brand(),
            payment: ClientPaymentConfig {
                iban: IBAN.into(),
                bic: "BNPAFRPP".into(),
                link_base: "https://pay.acme.example/r/".into(),
            },
            channels: None,
        },
    )]);
    let dispatcher = |clock: Clock| Dispatcher {
        store: store.clone(),
        adapters: adapters.clone(),
        templates: templates.clone(),
        owner: "d".into(),
        settings: DispatcherSettings {
            clients: clients.clone(),
            ..DispatcherSettings::default()
        },
        clock,
        metrics: metrics.clone(),
        partners: Default::default(),
        limiter: Default::default(),
    };
    let scheduler = |clock: Clock| Scheduler {
        store: store.clone(),
        scenarios: scenarios.clone(),
        rates: rates.clone(),
        owner: "s".into(),
        settings: SchedulerSettings::default(),
        clock,
        notify: Arc::new(Notify::new()),
        metrics: metrics.clone(),
    };

    // Run wake after wake until the registered notice is sent.
    let mut now = utc(0);
    let mut sent = false;
    for _ in 0..40 {
        let Some(wake) = store.next_wake().await.unwrap() else {
            break;
        };
        now = utc(wake);
        let clock = Clock::fixed(now);
        while scheduler(clock.clone()).run_once().await.unwrap() > 0 {}
        while dispatcher(clock.clone()).run_once().await.unwrap() > 0 {}
        let outbox = store.outbox_of(&id).await.unwrap();
        if outbox
            .iter()
            .any(|(_, channel, status)| channel == "registered_mail" && status == "sent")
        {
            sent = true;
            break;
        }
    }
    assert!(sent, "the registered notice went out");

    let requests = seen.lock().unwrap().clone();
    let registered: Vec<&Request> = requests
        .iter()
        .filter(|r| r.json["registered"] == true)
        .collect();
    assert_eq!(registered.len(), 1, "one registered letter");
    let tracking = format!("1A{:011}", requests.len());
    assert_eq!(
        requests.last().map(|r| r.json["registered"].clone()),
        Some(Value::Bool(true)),
        "the registered letter is the last one, tracking {tracking}"
    );
    assert_eq!(
        registered[0].json["sender"]["name"], "ACME Fournitures SAS",
        "the client's brand from the configuration signs"
    );
    if have_pdftotext() {
        let letter = pdf_text(&registered[0].document("/document"), "post_e2e_notice");
        for expected in [
            "ACME Fournitures SAS",
            "4 quai Perrache",
            "FR76 3000",
            "BNPAFRPP",
        ] {
            assert!(letter.contains(expected), "`{expected}` in:\n{letter}");
        }
    }

    // The provider's proof of delivery, by tracking number alone.
    let later = Clock::fixed(now + chrono::Duration::days(3));
    let app = router(
        AppState {
            store: store.clone(),
            metrics: metrics.clone(),
            notify: Arc::new(Notify::new()),
            clock: later.clone(),
            inbound: Default::default(),
        },
        64 * 1024,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let receipt = format!(
        r#"{{"tracking": "{tracking}", "status": "delivered",
            "proof_url": "https://post.example/proofs/{tracking}.pdf",
            "proof": "signed by J. Martin"}}"#
    );
    let (status, body) = post_json(addr, "/api/v1/receipts/post", &receipt).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = post_json(addr, "/api/v1/receipts/post", &receipt).await;
    assert_eq!((status, body.contains("duplicate")), (200, true), "{body}");
    let unknown = r#"{"tracking": "1A99999999999", "status": "delivered"}"#;
    let (status, body) = post_json(addr, "/api/v1/receipts/post", unknown).await;
    assert_eq!(status, 404, "{body}");
    let bad =
        format!(r#"{{"tracking": "{tracking}", "status": "delivered", "proof_url": "ftp://x"}}"#);
    let (status, body) = post_json(addr, "/api/v1/receipts/post", &bad).await;
    assert_eq!(status, 422, "{body}");
    server.abort();

    while scheduler(later.clone()).run_once().await.unwrap() > 0 {}
    let journal = store.journal(&id).await.unwrap();
    let delivered: Vec<_> = journal
        .iter()
        .filter(|e| e.kind == "event" && e.detail.starts_with("message.delivered"))
        .collect();
    assert_eq!(delivered.len(), 1, "applied once: {journal:#?}");
    let detail = &delivered[0].detail;
    assert!(detail.contains(&format!("tracking {tracking}")), "{detail}");
    assert!(
        detail.contains(&format!("https://post.example/proofs/{tracking}.pdf")),
        "{detail}"
    );
    assert!(detail.contains("signed by J. Martin"), "{detail}");
    assert_eq!(delivered[0].channel.as_deref(), Some("registered_mail"));
}

#[test]
fn the_debtors_fax_number_reaches_the_fax_message() {
    let store = TemplateStore::load(Path::new("templates")).expect("the shipped templates load");
    let today = NaiveDate::from_ymd_opt(2026, 3, 20).unwrap();
    let mut inst = instance();
    assert_eq!(message("fax", Channel::Fax, Vec::new()).to.fax, None);
    inst.case.debtor.fax = Some("+33472000099".into());
    let action = Action {
        key: "acme/D-1001/v1/fax/1".into(),
        at: Utc.with_ymd_and_hms(2026, 3, 20, 9, 0, 0).unwrap(),
        step: "notice".into(),
        kind: ActionKind::Send {
            channel: Channel::Fax,
            template: "fax".into(),
            language: "fr".into(),
            attach: Vec::new(),
        },
    };
    let msg = render_message_with(
        &store,
        &brand(),
        &inst,
        &action,
        today,
        &RenderExtras::default(),
    )
    .unwrap();
    assert_eq!(msg.to.fax.as_deref(), Some("+33472000099"));
}

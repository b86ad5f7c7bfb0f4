//! Channel adapters: building messages from outbox actions, the file and log adapters, and
//! the table that routes each channel to its adapter.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{NaiveDate, TimeZone, Utc};
use relance::channels::{
    Adapters, Agent, Delivery, DocumentData, DynChannel, FileChannel, LogChannel, Message,
    MessageKind, Recipient, RenderError, RenderExtras, render_message, render_message_with,
};
use relance::engine::{Action, ActionKind, Instalment, Instance, PromiseState, shared};
use relance::rules::Rules;
use relance::scenario::{Attachment, Channel, ClaimKind, load_checked};
use relance::simulate::parse_case;
use relance::templates::{Brand, TemplateStore};
use rust_decimal_macros::dec;

fn store() -> TemplateStore {
    TemplateStore::load(std::path::Path::new("templates")).expect("the shipped templates load")
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

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 20).unwrap()
}

fn send(template: &str, language: &str, channel: Channel) -> Action {
    Action {
        key: format!("acme/D-1001/v1/{template}/1"),
        at: Utc.with_ymd_and_hms(2026, 3, 20, 9, 0, 0).unwrap(),
        step: "notice".into(),
        kind: ActionKind::Send {
            channel,
            template: template.into(),
            language: language.into(),
            attach: vec![Attachment::Invoices],
        },
    }
}

fn message(key: &str, channel: Channel) -> Message {
    Message {
        key: key.into(),
        case_id: "acme/D-1001".into(),
        channel,
        template: Some("reminder_email".into()),
        language: "fr".into(),
        subject: Some("Relance – dossier acme/D-1001".into()),
        body: "Bonjour,\nvotre facture est échue.\n".into(),
        to: Recipient {
            name: "Boulangerie Martin SARL".into(),
            email: Some("compta@boulangerie-martin.example".into()),
            ..Recipient::default()
        },
        attachments: vec![],
        kind: MessageKind::Send,
        payload: serde_json::Value::Null,
    }
}

/// A fresh folder for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("relance-channels-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn every_shipped_template_renders_for_the_example_case_in_every_language() {
    let store = store();
    let brand = Brand::default();
    let mut inst = instance();
    inst.promise = Some(PromiseState {
        date: NaiveDate::from_ymd_opt(2026, 4, 30).unwrap(),
        amount: dec!(1730.50),
        paid_before: dec!(0),
        instalments: vec![
            Instalment {
                date: NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
                amount: dec!(865.25),
            },
            Instalment {
                date: NaiveDate::from_ymd_opt(2026, 4, 30).unwrap(),
                amount: dec!(865.25),
            },
        ],
    });
    inst.disputes_open = 1;
    let extras = RenderExtras {
        agent: Some(Agent {
            name: "Cabinet Durand Recouvrement".into(),
            address: vec!["8 avenue Foch".into(), "75116 Paris".into()],
            registration: "RCS Paris 901 234 567".into(),
        }),
        ..RenderExtras::default()
    };

    for lang in ["fr", "en", "es"] {
        let names = store.names(lang);
        assert!(names.len() >= 15, "{lang}: the shipped templates are there");
        for name in names {
            let action = send(&name, lang, Channel::Email);
            let msg = render_message_with(&store, &brand, &inst, &action, today(), &extras)
                .unwrap_or_else(|err| panic!("{lang}/{name}: {err}"));
            assert!(!msg.body.trim().is_empty(), "{lang}/{name} has a body");
            assert!(
                msg.body.contains("ACME Fournitures SAS")
                    || msg.subject.as_deref().unwrap_or("").contains("acme/D-1001")
                    || msg.body.contains("acme/D-1001")
                    || msg.body.contains("F-2026-0142"),
                "{lang}/{name} speaks of this case:\n{}",
                msg.body
            );
            assert_eq!(msg.template.as_deref(), Some(name.as_str()));
            assert_eq!(msg.language, lang);
        }
    }
}

#[test]
fn without_extras_only_the_agent_letter_needs_more_than_the_instance() {
    let store = store();
    let mut inst = instance();
    inst.promise = Some(PromiseState {
        date: NaiveDate::from_ymd_opt(2026, 4, 30).unwrap(),
        amount: dec!(1730.50),
        paid_before: dec!(0),
        instalments: vec![Instalment {
            date: NaiveDate::from_ymd_opt(2026, 4, 30).unwrap(),
            amount: dec!(1730.50),
        }],
    });
    inst.disputes_open = 1;
    for lang in ["fr", "en"] {
        for name in store.names(lang) {
            let result = render_message(
                &store,
                &Brand::default(),
                &inst,
                &send(&name, lang, Channel::Email),
                today(),
            );
            if name == "handover_notice" {
                assert!(result.is_err(), "{lang}/{name} needs an agent");
            } else {
                result.unwrap_or_else(|err| panic!("{lang}/{name}: {err}"));
            }
        }
    }
}

#[test]
fn a_formal_notice_carries_the_case_the_client_as_brand_and_the_open_invoices() {
    let store = store();
    let inst = instance();
    let action = send("formal_notice", "fr", Channel::Email);
    let msg = render_message(&store, &Brand::default(), &inst, &action, today()).unwrap();

    assert_eq!(msg.key, action.key);
    assert_eq!(msg.case_id, "acme/D-1001");
    assert_eq!(msg.kind, MessageKind::Send);
    assert_eq!(msg.channel, Channel::Email);
    assert!(
        msg.body.contains("ACME Fournitures SAS"),
        "the client signs when no brand is set"
    );
    assert!(msg.body.contains("F-2026-0142") && msg.body.contains("F-2026-0178"));
    assert!(
        msg.body.contains("1\u{202f}730,50"),
        "the total in French:\n{}",
        msg.body
    );
    assert!(msg.body.contains("12 rue des Lilas"));
    assert_eq!(
        msg.attachments,
        vec!["invoice-F-2026-0142.pdf", "invoice-F-2026-0178.pdf"]
    );
    assert_eq!(
        msg.to.email.as_deref(),
        Some("compta@boulangerie-martin.example")
    );
    assert_eq!(msg.to.address, vec!["12 rue des Lilas", "69003 Lyon", "FR"]);
}

#[test]
fn a_configured_brand_signs_instead_of_the_client() {
    let store = store();
    let brand = Brand {
        legal_name: "Acme Fournitures SAS".into(),
        trade_name: "Acme".into(),
        signature: "Service clients Acme".into(),
        ..Brand::default()
    };
    let msg = render_message(
        &store,
        &brand,
        &instance(),
        &send("reminder_email", "en", Channel::Email),
        today(),
    )
    .unwrap();
    assert!(msg.body.contains("Service clients Acme"));
    assert!(msg.subject.is_some(), "an email has a subject");
}

#[test]
fn payment_details_and_a_dispute_reason_reach_the_text() {
    let store = store();
    let mut inst = instance();
    inst.disputes_open = 1;
    let mut extras = RenderExtras {
        dispute_reason: Some("livraison incomplète".into()),
        ..RenderExtras::default()
    };
    extras.payment.iban = "FR7630006000011234567890189".into();
    extras.payment.link = "https://pay.acme.example/c/42".into();

    let msg = render_message_with(
        &store,
        &Brand::default(),
        &inst,
        &send("dispute_reply", "fr", Channel::Email),
        today(),
        &extras,
    )
    .unwrap();
    assert!(
        msg.body.contains("« livraison incomplète »"),
        "{}",
        msg.body
    );

    let msg = render_message_with(
        &store,
        &Brand::default(),
        &inst,
        &send("reminder_email", "fr", Channel::Email),
        today(),
        &extras,
    )
    .unwrap();
    assert!(
        msg.body.contains("https://pay.acme.example/c/42"),
        "{}",
        msg.body
    );
    assert!(
        msg.body.contains("acme/D-1001"),
        "the case id is the transfer reference"
    );
}

#[test]
fn a_template_that_needs_an_agent_fails_clearly_without_one() {
    let err = render_message(
        &store(),
        &Brand::default(),
        &instance(),
        &send("handover_notice", "fr", Channel::Letter),
        today(),
    )
    .unwrap_err();
    let RenderError::Template { key, .. } = &err;
    assert!(key.contains("handover_notice"));
    assert!(err.to_string().contains("requires: agent"), "{err}");
}

#[test]
fn an_unknown_template_is_an_error_naming_it() {
    let err = render_message(
        &store(),
        &Brand::default(),
        &instance(),
        &send("reminder_emial", "fr", Channel::Email),
        today(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("reminder_emial"), "{err}");
}

#[test]
fn tasks_handovers_and_claims_without_template_describe_themselves() {
    let store = store();
    let inst = instance();
    let at = Utc.with_ymd_and_hms(2026, 3, 20, 9, 0, 0).unwrap();
    let task = Action {
        key: "k/task".into(),
        at,
        step: "declare".into(),
        kind: ActionKind::Task {
            task: "declare_claim".into(),
            template: None,
            language: "fr".into(),
        },
    };
    let msg = render_message(&store, &Brand::default(), &inst, &task, today()).unwrap();
    assert_eq!(msg.kind, MessageKind::Task);
    assert_eq!(msg.channel, Channel::Phone);
    assert!(msg.body.contains("declare_claim") && msg.body.contains("1730.50 EUR"));

    let handover = Action {
        key: "k/handover".into(),
        at,
        step: "handover".into(),
        kind: ActionKind::Handover {
            partner: "agent_default".into(),
        },
    };
    let msg = render_message(&store, &Brand::default(), &inst, &handover, today()).unwrap();
    assert_eq!(msg.kind, MessageKind::Handover);
    assert_eq!(msg.channel, Channel::Webhook);
    assert_eq!(msg.to.partner.as_deref(), Some("agent_default"));
    assert_eq!(msg.payload["scope"]["case"]["balance"], "1730.50");

    let claim = Action {
        key: "k/claim".into(),
        at,
        step: "claim".into(),
        kind: ActionKind::Claim {
            partner: "insurer_default".into(),
            claim: ClaimKind::Notification,
            late: false,
        },
    };
    let msg = render_message(&store, &Brand::default(), &inst, &claim, today()).unwrap();
    assert_eq!(msg.kind, MessageKind::Claim);
    assert!(
        msg.body
            .contains("overdue notification to `insurer_default`")
    );
}

#[tokio::test]
async fn the_file_adapter_writes_once_and_reports_the_second_send_as_a_duplicate() {
    let scratch = Scratch::new("once");
    let adapter = FileChannel::new(&scratch.0);
    let msg = message("acme/D-1001/v1/first/1", Channel::Email);

    let first = adapter.send_boxed(&msg).await.unwrap();
    assert_eq!(first, Delivery::Sent { provider_id: None });
    let path = adapter.path_of(Channel::Email, &msg.key);
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.starts_with(
        "To: Boulangerie Martin SARL <compta@boulangerie-martin.example>\n\
         Subject: Relance – dossier acme/D-1001\nKey: acme/D-1001/v1/first/1\n\n"
    ));
    assert!(written.ends_with("votre facture est échue.\n"));

    let mut again = msg.clone();
    again.body = "another body".into();
    assert_eq!(
        adapter.send_boxed(&again).await.unwrap(),
        Delivery::Duplicate
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        written,
        "the file is not rewritten"
    );

    let entries: Vec<_> = std::fs::read_dir(scratch.0.join("email"))
        .unwrap()
        .collect();
    assert_eq!(entries.len(), 1, "no temporary file is left behind");
}

#[tokio::test]
async fn any_key_gives_a_file_inside_the_channel_folder() {
    let scratch = Scratch::new("keys");
    let adapter = FileChannel::new(&scratch.0);
    let long = "x/".repeat(300);
    for key in [
        "../../etc/passwd",
        "a/b",
        "a_b",
        "/abs",
        "clé avec espaces",
        long.as_str(),
    ] {
        let msg = message(key, Channel::Sms);
        assert!(
            matches!(adapter.send_boxed(&msg).await, Ok(Delivery::Sent { .. })),
            "{key}"
        );
        let path = adapter.path_of(Channel::Sms, key);
        assert_eq!(
            path.parent(),
            Some(scratch.0.join("sms").as_path()),
            "{key}"
        );
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains(&format!("Key: {key}"))
        );
    }
    assert_eq!(std::fs::read_dir(scratch.0.join("sms")).unwrap().count(), 6);
}

#[tokio::test]
async fn a_message_without_key_is_refused_for_good() {
    let scratch = Scratch::new("nokey");
    let result = FileChannel::new(&scratch.0)
        .send_boxed(&message("", Channel::Email))
        .await;
    assert!(matches!(
        result,
        Err(relance::channels::SendError::Permanent(_))
    ));
}

#[tokio::test]
async fn the_log_adapter_keeps_what_it_sent_in_order_and_knows_duplicates() {
    let log = LogChannel::new();
    let a = message("k1", Channel::Email);
    let b = message("k2", Channel::Sms);
    assert!(matches!(
        log.send_boxed(&a).await,
        Ok(Delivery::Sent { .. })
    ));
    assert!(matches!(
        log.send_boxed(&b).await,
        Ok(Delivery::Sent { .. })
    ));
    assert_eq!(log.send_boxed(&a).await.unwrap(), Delivery::Duplicate);
    let keys: Vec<_> = log.sent().into_iter().map(|m| m.key).collect();
    assert_eq!(keys, ["k1", "k2"]);
}

#[tokio::test]
async fn adapters_route_each_channel_to_its_own_adapter() {
    let scratch = Scratch::new("route");
    let log = Arc::new(LogChannel::new());
    let adapters =
        Adapters::new(Arc::new(FileChannel::new(&scratch.0))).with(Channel::Sms, log.clone());

    assert_eq!(adapters.get(Channel::Email).name(), "file");
    assert_eq!(adapters.get(Channel::Sms).name(), "log");
    adapters.send(&message("e1", Channel::Email)).await.unwrap();
    adapters.send(&message("s1", Channel::Sms)).await.unwrap();

    assert!(
        FileChannel::new(&scratch.0)
            .path_of(Channel::Email, "e1")
            .exists()
    );
    assert!(
        !scratch.0.join("sms").exists(),
        "sms went to the log, not to a file"
    );
    assert_eq!(log.sent().len(), 1);
    assert_eq!(log.sent()[0].key, "s1");
}

#[test]
fn adapters_are_built_from_names_and_an_unknown_name_is_refused_with_a_hint() {
    let dir = std::env::temp_dir();
    let overrides = BTreeMap::from([(Channel::Sms, "log".to_owned())]);
    let adapters = Adapters::from_names("file", &overrides, &dir).unwrap();
    assert_eq!(adapters.get(Channel::Letter).name(), "file");
    assert_eq!(adapters.get(Channel::Sms).name(), "log");

    let err = Adapters::from_names("fiel", &BTreeMap::new(), &dir).unwrap_err();
    assert!(err.to_string().contains("did you mean `file`?"), "{err}");
    let bad = BTreeMap::from([(Channel::Email, "smtp".to_owned())]);
    assert!(Adapters::from_names("log", &bad, &dir).is_err());
}

#[tokio::test]
async fn the_file_adapter_writes_the_letter_and_its_enclosures_as_pdf_beside_the_text() {
    let scratch = Scratch::new("pdfs");
    let adapter = FileChannel::new(&scratch.0);
    let inst = instance();
    let brand = Brand {
        legal_name: "ACME Fournitures SAS".into(),
        ..Brand::default()
    };
    let action = send("formal_notice_registered", "fr", Channel::RegisteredMail);
    let mut msg = render_message(&store(), &brand, &inst, &action, today()).unwrap();
    msg.payload["documents"] = DocumentData::of(&inst, today()).to_payload();

    assert!(matches!(
        adapter.send_boxed(&msg).await,
        Ok(Delivery::Sent { .. })
    ));
    let text = adapter.path_of(Channel::RegisteredMail, &msg.key);
    let folder = text.parent().unwrap().to_path_buf();
    let stem = text.file_stem().unwrap().to_string_lossy().to_string();
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("{stem}.invoice-F-2026-0142.pdf"),
            format!("{stem}.invoice-F-2026-0178.pdf"),
            format!("{stem}.pdf"),
            format!("{stem}.txt"),
        ]
    );
    for name in &names[..3] {
        let bytes = std::fs::read(folder.join(name)).unwrap();
        assert!(bytes.starts_with(b"%PDF-"), "{name} is a PDF");
    }

    assert_eq!(adapter.send_boxed(&msg).await.unwrap(), Delivery::Duplicate);
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 4);
}

//! Partner webhooks end to end through a real server and a real SQLite file: a Stripe
//! payment and refund, a bank transfer, a collection agent's file, a credit insurer's claim
//! and an email provider's receipt each become the case's events, once however often they
//! are delivered; what relance cannot place is stored, answered 202, and listed.

mod support;

use rust_decimal::Decimal;
use support::inbound::{
    Answer, Rig, SECRET, STRIPE_SECRET, now, standard_headers, stripe_signature,
};

async fn stripe(rig: &Rig, body: &str) -> Answer {
    let headers = vec![(
        "Stripe-Signature".to_string(),
        stripe_signature(STRIPE_SECRET, now(), body.as_bytes()),
    )];
    rig.webhook("stripe", &headers, body.as_bytes()).await
}

async fn standard(rig: &Rig, source: &str, id: &str, body: &str) -> Answer {
    let headers = standard_headers(SECRET, id, now(), body.as_bytes());
    rig.webhook(source, &headers, body.as_bytes()).await
}

/// The event types in the case's journal, in order.
async fn journaled(rig: &Rig) -> Vec<String> {
    rig.store
        .journal(&rig.instance)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "event")
        .map(|r| r.detail)
        .collect()
}

fn eur(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

#[tokio::test]
async fn a_signed_stripe_payment_reduces_the_balance_once_despite_a_retry_and_a_refund_reopens_it()
{
    let rig = Rig::start("partners_stripe").await;
    let before = rig.balance().await;
    let payment = r#"{"id":"evt_pay_1","object":"event","type":"payment_intent.succeeded","created":1773136800,"data":{"object":{"id":"pi_1","object":"payment_intent","amount":25000,"amount_received":25000,"currency":"eur","metadata":{"invoice":"F-2026-0142"}}}}"#;

    let first = stripe(&rig, payment).await;
    assert_eq!(first.status, 202, "{first:?}");
    assert!(first.body.contains(&rig.instance), "{first:?}");
    let retry = stripe(&rig, payment).await;
    assert_eq!(
        retry.status, 200,
        "Stripe retries with a new signature: {retry:?}"
    );
    assert!(retry.body.contains("duplicate"));
    rig.apply().await;
    assert_eq!(rig.balance().await, before - eur(25000));

    let refund = r#"{"id":"evt_ref_1","object":"event","type":"charge.refunded","data":{"object":{"id":"ch_1","object":"charge","amount":25000,"amount_refunded":7500,"currency":"eur","metadata":{"client_id":"acme","debtor_id":"D-1001"}},"previous_attributes":{"amount_refunded":2500}}}"#;
    let answer = stripe(&rig, refund).await;
    assert_eq!(answer.status, 202, "{answer:?}");
    rig.apply().await;
    assert_eq!(
        rig.balance().await,
        before - eur(25000) + eur(5000),
        "only what this refund added"
    );

    let deliveries = rig.store.inbound_deliveries(None, 10).await.unwrap();
    let ids: Vec<_> = deliveries.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["stripe/evt_pay_1", "stripe/evt_ref_1"]);
    assert!(deliveries.iter().all(|d| d.status == "applied"));
    assert_eq!(rig.count("events").await, 2);
}

#[tokio::test]
async fn a_bank_transfer_is_found_by_its_invoice_and_applied() {
    let rig = Rig::start("partners_bank").await;
    let before = rig.balance().await;
    let body = r#"{"type":"payment.received","data":{"invoice":"F-2026-0178","amount":"480.50","reference":"VIR-2026-88"}}"#;
    let answer = standard(&rig, "bank", "bank-88", body).await;
    assert_eq!(answer.status, 202, "{answer:?}");
    rig.apply().await;
    assert_eq!(rig.balance().await, before - eur(48050));
    let journal = journaled(&rig).await;
    assert!(
        journal.iter().any(|d| d.contains("payment.received")),
        "{journal:?}"
    );
}

#[tokio::test]
async fn a_collection_agent_accepts_the_file_collects_a_payment_and_closes_it() {
    let rig = Rig::start("partners_agent").await;
    let before = rig.balance().await;
    let accepted = r#"{"type":"file.accepted","data":{"debtor_id":"D-1001","reference":"AG-77"}}"#;
    let collected =
        r#"{"type":"payment.collected","data":{"debtor_id":"D-1001","amount":"300.00"}}"#;
    let closed =
        r#"{"type":"file.closed","data":{"debtor_id":"D-1001","outcome":"partially_recovered"}}"#;
    for (id, body) in [("ag-1", accepted), ("ag-2", collected), ("ag-3", closed)] {
        let answer = standard(&rig, "agent", id, body).await;
        assert_eq!(answer.status, 202, "{id}: {answer:?}");
    }
    let again = standard(&rig, "agent", "ag-2", collected).await;
    assert_eq!(again.status, 200, "{again:?}");

    rig.apply().await;
    assert_eq!(rig.balance().await, before - eur(30000), "collected once");
    let journal = journaled(&rig).await;
    for kind in ["agent.accepted", "agent.collected", "agent.closed"] {
        assert!(
            journal.iter().any(|d| d.contains(kind)),
            "{kind}: {journal:?}"
        );
    }
}

#[tokio::test]
async fn a_credit_insurer_receives_accepts_and_pays_a_claim_by_case_id() {
    let rig = Rig::start("partners_insurer").await;
    let before = rig.balance().await;
    let case = &rig.instance;
    let bodies = [
        (
            "claim.received",
            format!(r#"{{"type":"claim.received","data":{{"case_id":"{case}"}}}}"#),
        ),
        (
            "claim.accepted",
            format!(
                r#"{{"type":"claim.accepted","data":{{"case_id":"{case}","reference":"CL-9"}}}}"#
            ),
        ),
        (
            "claim.paid",
            format!(r#"{{"type":"claim.paid","data":{{"case_id":"{case}","amount":"400.00"}}}}"#),
        ),
    ];
    for (id, body) in &bodies {
        let answer = standard(&rig, "insurer", id, body).await;
        assert_eq!(answer.status, 202, "{id}: {answer:?}");
    }
    rig.apply().await;
    assert_eq!(rig.balance().await, before - eur(40000));
    let journal = journaled(&rig).await;
    for kind in ["partner.status", "insurer.accepted", "insurer.paid"] {
        assert!(
            journal.iter().any(|d| d.contains(kind)),
            "{kind}: {journal:?}"
        );
    }
}

#[tokio::test]
async fn unknown_types_unmatched_cases_and_unusable_content_are_stored_not_lost() {
    let rig = Rig::start("partners_unknown").await;
    let before = rig.balance().await;

    let unknown = r#"{"type":"account.updated","data":{"iban":"FR76..."}}"#;
    let answer = standard(&rig, "bank", "bank-u1", unknown).await;
    assert_eq!(answer.status, 202, "{answer:?}");
    assert!(answer.body.contains("unknown_type"), "{answer:?}");
    let again = standard(&rig, "bank", "bank-u1", unknown).await;
    assert_eq!(again.status, 200, "{again:?}");

    let customer = r#"{"id":"evt_cus","object":"event","type":"customer.created","data":{"object":{"id":"cus_1"}}}"#;
    let answer = stripe(&rig, customer).await;
    assert_eq!(answer.status, 202, "{answer:?}");

    let nobody = r#"{"type":"payment.received","data":{"invoice":"F-NOPE","amount":"10.00"}}"#;
    let answer = standard(&rig, "bank", "bank-u2", nobody).await;
    assert_eq!(answer.status, 202, "{answer:?}");
    assert!(answer.body.contains("unmatched"), "{answer:?}");

    let no_amount = r#"{"type":"payment.received","data":{"invoice":"F-2026-0142"}}"#;
    let answer = standard(&rig, "bank", "bank-u3", no_amount).await;
    assert_eq!(answer.status, 422, "{answer:?}");
    assert_eq!(answer.content_type, "application/problem+json");
    let float = r#"{"type":"payment.received","data":{"invoice":"F-2026-0142","amount":10.5}}"#;
    let answer = standard(&rig, "bank", "bank-u4", float).await;
    assert_eq!(answer.status, 422, "{answer:?}");
    let answer = standard(&rig, "bank", "bank-u5", "not json at all").await;
    assert_eq!(answer.status, 400, "{answer:?}");

    assert_eq!(rig.count("events").await, 0, "none of these is an event");
    let unknown = rig
        .store
        .inbound_deliveries(Some("unknown_type"), 10)
        .await
        .unwrap();
    let ids: Vec<_> = unknown.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["bank/bank-u1", "stripe/evt_cus"]);
    assert_eq!(unknown[0].event_type.as_deref(), Some("account.updated"));
    assert!(
        unknown[0].payload.as_deref().unwrap().contains("FR76"),
        "the payload is kept"
    );
    let unmatched = rig
        .store
        .inbound_deliveries(Some("unmatched"), 10)
        .await
        .unwrap();
    assert_eq!(unmatched.len(), 1);
    assert_eq!(unmatched[0].id, "bank/bank-u2");
    let invalid = rig
        .store
        .inbound_deliveries(Some("invalid"), 10)
        .await
        .unwrap();
    assert_eq!(invalid.len(), 3, "{invalid:#?}");
    assert!(invalid.iter().all(|d| d.reason.is_some()));

    // An operator lists them from the command line.
    let config = rig.db.with_file_name("relance.yaml");
    std::fs::write(
        &config,
        format!(
            "database:\n  url: \"sqlite://{}?mode=rwc\"\n",
            rig.db.display()
        ),
    )
    .unwrap();
    let list = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_relance"))
            .args(["webhooks", "list"])
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = list(&["--status", "unknown_type"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("bank/bank-u1") && stdout.contains("account.updated"),
        "{stdout}"
    );
    assert!(stdout.contains("stripe/evt_cus"), "{stdout}");
    assert!(!stdout.contains("FR76"), "bodies only on request: {stdout}");
    let (_, stdout, _) = list(&["--status", "unknown_type", "--payload"]);
    assert!(stdout.contains("FR76"), "{stdout}");
    let (_, stdout, _) = list(&["--status", "unmatched"]);
    assert!(
        stdout.contains("bank/bank-u2") && !stdout.contains("bank-u1"),
        "{stdout}"
    );
    let (code, _, stderr) = list(&["--status", "lost"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--status lost: use unknown_type"),
        "{stderr}"
    );

    rig.apply().await;
    assert_eq!(rig.balance().await, before, "nothing was applied");
}

#[tokio::test]
async fn an_email_providers_signed_receipt_reaches_the_message_it_concerns() {
    let rig = Rig::start_at("partners_receipt", 40).await;
    let key = rig.first_outbox_key().await;

    let body = format!(
        r#"{{"type":"message.bounced","timestamp":"2026-03-10T10:00:00Z","data":{{"key":"{key}","status":"bounced","reason":"550 no such user"}}}}"#
    );
    let answer = standard(&rig, "smtp", "rcpt-1", &body).await;
    assert_eq!(answer.status, 202, "{answer:?}");
    let again = standard(&rig, "smtp", "rcpt-1", &body).await;
    assert_eq!(again.status, 200, "{again:?}");

    let lost = r#"{"key":"no-such-key","status":"delivered"}"#;
    let answer = standard(&rig, "smtp", "rcpt-2", lost).await;
    assert_eq!(answer.status, 202, "stored for an operator: {answer:?}");
    let unmatched = rig
        .store
        .inbound_deliveries(Some("unmatched"), 10)
        .await
        .unwrap();
    assert_eq!(unmatched.len(), 1);
    assert_eq!(unmatched[0].id, "smtp/rcpt-2");

    rig.apply().await;
    let journal = journaled(&rig).await;
    let bounces = journal.iter().filter(|d| d.contains("bounced")).count();
    assert_eq!(bounces, 1, "{journal:?}");
}

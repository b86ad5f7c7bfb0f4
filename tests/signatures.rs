//! Signatures of incoming partner webhooks: the Standard Webhooks published test vector and
//! a Stripe signature computed outside relance verify; forged deliveries of every kind are
//! refused with a 401 problem naming why, before their body is read, and store nothing; a
//! replayed delivery is applied once; a rotated secret is still accepted.

mod support;

use axum::http::{HeaderMap, HeaderValue};
use relance::api::InboundSources;
use relance::api::signature::{
    SignatureError, StripeSecret, TOLERANCE, sign_stripe, standard_secret, verify_standard,
    verify_stripe,
};
use relance::config::Config;
use rust_decimal::Decimal;
use support::inbound::{
    OLD_SECRET, Rig, SECRET, STRIPE_SECRET, now, standard_headers, standard_signature,
    stripe_signature,
};

// The Standard Webhooks specification's published example.
const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const VECTOR_TS: i64 = 1614265330;
const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

// Stripe's scheme (hex HMAC-SHA256 of "t.body", keyed with the whole endpoint secret), at the
// timestamp of Stripe's documented header example; the value was computed with
// `openssl dgst -sha256 -hmac whsec_test_secret`, not with relance.
const STRIPE_TS: i64 = 1492774577;
const STRIPE_BODY: &[u8] =
    br#"{"id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "object": "event", "type": "payment_intent.succeeded"}"#;
const STRIPE_V1: &str = "55930e16d1425371b41097c6d1d88b3f35df30f129da69fc8a7f64751ed3ff39";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

#[test]
fn the_standard_webhooks_published_vector_verifies_and_is_what_an_independent_hmac_gives() {
    assert_eq!(
        standard_signature(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY),
        VECTOR_SIGNATURE
    );
    let secrets = [standard_secret(VECTOR_SECRET).unwrap()];
    let ts = VECTOR_TS.to_string();
    let h = headers(&[
        ("webhook-id", VECTOR_ID),
        ("webhook-timestamp", &ts),
        ("webhook-signature", VECTOR_SIGNATURE),
    ]);
    assert_eq!(
        verify_standard(&secrets, &h, VECTOR_BODY, VECTOR_TS + 299, TOLERANCE),
        Ok(VECTOR_ID.to_string())
    );
    assert_eq!(
        verify_standard(&secrets, &h, VECTOR_BODY, VECTOR_TS - 299, TOLERANCE),
        Ok(VECTOR_ID.to_string()),
        "five minutes either way"
    );
    assert_eq!(
        verify_standard(
            &secrets,
            &h,
            br#"{"test":2432232314}"#,
            VECTOR_TS,
            TOLERANCE
        ),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn a_stripe_signature_computed_outside_relance_verifies() {
    let secret = StripeSecret::parse(STRIPE_SECRET).unwrap();
    let header = format!("t={STRIPE_TS},v1={STRIPE_V1}");
    assert_eq!(sign_stripe(&secret, STRIPE_TS, STRIPE_BODY), header);
    assert_eq!(
        stripe_signature(STRIPE_SECRET, STRIPE_TS, STRIPE_BODY),
        header
    );
    let secrets = [secret];
    assert_eq!(
        verify_stripe(&secrets, &header, STRIPE_BODY, STRIPE_TS + 10, TOLERANCE),
        Ok(STRIPE_TS)
    );
    // Stripe's documented header shape: several schemes, several v1 during a rotation.
    let several = format!(
        "t={STRIPE_TS},v1={},v1={STRIPE_V1},v0=6ffbb59b",
        "ab".repeat(32)
    );
    assert_eq!(
        verify_stripe(&secrets, &several, STRIPE_BODY, STRIPE_TS, TOLERANCE),
        Ok(STRIPE_TS)
    );
    assert_eq!(
        verify_stripe(&secrets, &header, STRIPE_BODY, STRIPE_TS + 301, TOLERANCE)
            .unwrap_err()
            .code(),
        "timestamp_stale"
    );
}

/// A genuine bank payment for the example case.
fn bank_body() -> Vec<u8> {
    br#"{"type":"payment.received","timestamp":"2026-03-10T10:00:00Z","data":{"invoice":"F-2026-0142","amount":"100.00","reference":"VIR-1"}}"#.to_vec()
}

/// The same payment with its keys in another order.
fn bank_body_reordered() -> Vec<u8> {
    br#"{"data":{"amount":"100.00","invoice":"F-2026-0142","reference":"VIR-1"},"timestamp":"2026-03-10T10:00:00Z","type":"payment.received"}"#.to_vec()
}

/// A genuine Stripe payment for the example case.
fn stripe_body(event: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"{event}","object":"event","type":"payment_intent.succeeded","created":1773136800,"data":{{"object":{{"id":"pi_3N","object":"payment_intent","amount_received":25000,"currency":"eur","metadata":{{"invoice":"F-2026-0142"}}}}}}}}"#
    )
    .into_bytes()
}

fn replace(
    mut headers: Vec<(String, String)>,
    name: &str,
    value: Option<String>,
) -> Vec<(String, String)> {
    headers.retain(|(n, _)| n != name);
    if let Some(v) = value {
        headers.push((name.to_string(), v));
    }
    headers
}

/// A forged delivery: its name, the source it is posted to, headers, body, and the refusal
/// code expected.
struct Forged {
    name: &'static str,
    source: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    code: &'static str,
}

async fn assert_refused(rig: &Rig, cases: Vec<Forged>) {
    for case in cases {
        let answer = rig.webhook(case.source, &case.headers, &case.body).await;
        assert_eq!(answer.status, 401, "{}: {answer:?}", case.name);
        assert_eq!(
            answer.content_type, "application/problem+json",
            "{}",
            case.name
        );
        assert!(
            answer
                .body
                .contains(&format!("\"title\":\"{}\"", case.code)),
            "{}: expected {}, got {}",
            case.name,
            case.code,
            answer.body
        );
        assert_eq!(rig.stored().await, (0, 0), "{}: nothing stored", case.name);
    }
}

#[tokio::test]
async fn forged_standard_webhooks_deliveries_are_refused_and_store_nothing() {
    let rig = Rig::start("forged_standard").await;
    let t = now();
    let body = bank_body();
    let good = standard_headers(SECRET, "msg_1", t, &body);
    let sig = standard_signature(SECRET, "msg_1", t, &body);
    let tag = sig.strip_prefix("v1,").unwrap().to_string();
    let raw_key_sig = {
        // Signed with the secret's text as the key, as if `whsec_` and base64 were ignored.
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2_hmac::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("msg_1.{t}.").as_bytes());
        mac.update(&body);
        use base64::Engine as _;
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    };
    let sig_header = |value: String| replace(good.clone(), "webhook-signature", Some(value));
    let f = |name, headers, body: &[u8], code| Forged {
        name,
        source: "bank",
        headers,
        body: body.to_vec(),
        code,
    };
    let cases = vec![
        f("no headers at all", vec![], &body, "signature_missing"),
        f(
            "no webhook-signature",
            replace(good.clone(), "webhook-signature", None),
            &body,
            "signature_missing",
        ),
        f(
            "no webhook-id",
            replace(good.clone(), "webhook-id", None),
            &body,
            "signature_missing",
        ),
        f(
            "no webhook-timestamp",
            replace(good.clone(), "webhook-timestamp", None),
            &body,
            "signature_missing",
        ),
        f(
            "empty signature",
            sig_header(String::new()),
            &body,
            "signature_empty",
        ),
        f(
            "truncated base64",
            sig_header(sig[..sig.len() - 2].to_string()),
            &body,
            "signature_malformed",
        ),
        f(
            "base64 of a truncated tag",
            sig_header(format!("v1,{}", &tag[..tag.len() - 4])),
            &body,
            "signature_malformed",
        ),
        f(
            "not base64",
            sig_header("v1,!!!not-base64!!!".into()),
            &body,
            "signature_malformed",
        ),
        f(
            "wrong secret",
            standard_headers("whsec_d3Jvbmctc2VjcmV0LWtleQ==", "msg_1", t, &body),
            &body,
            "signature_mismatch",
        ),
        f(
            "signed for another id",
            replace(
                standard_headers(SECRET, "msg_other", t, &body),
                "webhook-id",
                Some("msg_1".into()),
            ),
            &body,
            "signature_mismatch",
        ),
        f(
            "timestamp changed after signing",
            replace(good.clone(), "webhook-timestamp", Some((t + 1).to_string())),
            &body,
            "signature_mismatch",
        ),
        f(
            "stale timestamp",
            standard_headers(SECRET, "msg_1", t - 400, &body),
            &body,
            "timestamp_stale",
        ),
        f(
            "future timestamp",
            standard_headers(SECRET, "msg_1", t + 400, &body),
            &body,
            "timestamp_future",
        ),
        f(
            "non-numeric timestamp",
            replace(good.clone(), "webhook-timestamp", Some("yesterday".into())),
            &body,
            "timestamp_invalid",
        ),
        f(
            "body re-serialised with spaces",
            good.clone(),
            &serde_json::to_vec_pretty(
                &serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            )
            .unwrap(),
            "signature_mismatch",
        ),
        f(
            "body with its keys in another order",
            good.clone(),
            &bank_body_reordered(),
            "signature_mismatch",
        ),
        f(
            "amount changed",
            good.clone(),
            &String::from_utf8(body.clone())
                .unwrap()
                .replace("100.00", "1000.00")
                .into_bytes(),
            "signature_mismatch",
        ),
        f(
            "a v2 signature only",
            sig_header(format!("v2,{tag}")),
            &body,
            "signature_unsupported",
        ),
        f(
            "a bare signature without version",
            sig_header(tag.clone()),
            &body,
            "signature_unsupported",
        ),
        f(
            "signed with the secret text, not its decoded key (whsec_ ignored)",
            sig_header(raw_key_sig),
            &body,
            "signature_mismatch",
        ),
        f(
            "signature of an empty body",
            standard_headers(SECRET, "msg_1", t, b""),
            &body,
            "signature_mismatch",
        ),
    ];
    assert!(cases.len() >= 20);
    assert_refused(&rig, cases).await;

    let unknown = rig.webhook("pigeon", &good, &body).await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    assert!(unknown.body.contains("unknown_source"));
    assert_eq!(rig.stored().await, (0, 0));
}

#[tokio::test]
async fn forged_stripe_deliveries_are_refused_and_store_nothing() {
    let rig = Rig::start("forged_stripe").await;
    let t = now();
    let body = stripe_body("evt_1");
    let good = stripe_signature(STRIPE_SECRET, t, &body);
    let v1 = good.split_once(",v1=").unwrap().1.to_string();
    let h = |value: String| vec![("Stripe-Signature".to_string(), value)];
    let f = |name, headers, body: &[u8], code| Forged {
        name,
        source: "stripe",
        headers,
        body: body.to_vec(),
        code,
    };
    let reserialised =
        serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(&body).unwrap())
            .unwrap();
    let cases = vec![
        f("no Stripe-Signature", vec![], &body, "signature_missing"),
        f(
            "Standard Webhooks headers instead",
            standard_headers(SECRET, "evt_1", t, &body),
            &body,
            "signature_missing",
        ),
        f(
            "empty Stripe-Signature",
            h(String::new()),
            &body,
            "signature_empty",
        ),
        f(
            "truncated hex",
            h(good[..good.len() - 1].to_string()),
            &body,
            "signature_malformed",
        ),
        f(
            "hex of a truncated tag",
            h(good[..good.len() - 2].to_string()),
            &body,
            "signature_malformed",
        ),
        f(
            "not hex",
            h(format!("t={t},v1={}", "zz".repeat(32))),
            &body,
            "signature_malformed",
        ),
        f("no t=", h(format!("v1={v1}")), &body, "signature_malformed"),
        f(
            "not key=value",
            h(format!("t={t},{v1}")),
            &body,
            "signature_malformed",
        ),
        f(
            "only a v0 signature",
            h(format!("t={t},v0={v1}")),
            &body,
            "signature_unsupported",
        ),
        f(
            "non-numeric t",
            h(format!("t=now,v1={v1}")),
            &body,
            "timestamp_invalid",
        ),
        f(
            "wrong secret",
            h(stripe_signature("whsec_another_endpoint", t, &body)),
            &body,
            "signature_mismatch",
        ),
        f(
            "secret without its whsec_ prefix",
            h(stripe_signature("test_secret", t, &body)),
            &body,
            "signature_mismatch",
        ),
        f(
            "stale t",
            h(stripe_signature(STRIPE_SECRET, t - 400, &body)),
            &body,
            "timestamp_stale",
        ),
        f(
            "future t",
            h(stripe_signature(STRIPE_SECRET, t + 400, &body)),
            &body,
            "timestamp_future",
        ),
        f(
            "t changed after signing",
            h(format!("t={},v1={v1}", t - 1)),
            &body,
            "signature_mismatch",
        ),
        f(
            "body re-serialised",
            h(good.clone()),
            &reserialised,
            "signature_mismatch",
        ),
        f(
            "another event's body",
            h(good.clone()),
            &stripe_body("evt_2"),
            "signature_mismatch",
        ),
    ];
    assert_refused(&rig, cases).await;
}

#[tokio::test]
async fn a_replayed_delivery_is_applied_once_and_a_rotated_secret_is_still_accepted() {
    let rig = Rig::start("replay").await;
    let before = rig.balance().await;
    let body = bank_body();

    let headers = standard_headers(OLD_SECRET, "msg_replayed", now(), &body);
    let first = rig.webhook("bank", &headers, &body).await;
    assert_eq!(
        first.status, 202,
        "signed with the previous secret: {first:?}"
    );
    let again = rig.webhook("bank", &headers, &body).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert!(again.body.contains("duplicate"), "{again:?}");
    let resigned = standard_headers(SECRET, "msg_replayed", now(), &body);
    let third = rig.webhook("bank", &resigned, &body).await;
    assert_eq!(third.status, 200, "re-signed, same id: {third:?}");
    assert_eq!(rig.stored().await, (1, 1));

    // Several signatures, only one of them valid: any match is enough.
    let t = now();
    let mut several = standard_headers(SECRET, "msg_several", t, &body);
    let valid = standard_signature(SECRET, "msg_several", t, &body);
    several = replace(
        several,
        "webhook-signature",
        Some(format!("v1,bm90IGl0 v2,abc {valid}")),
    );
    let answer = rig.webhook("bank", &several, &body).await;
    assert_eq!(answer.status, 202, "{answer:?}");

    rig.apply().await;
    assert_eq!(
        rig.balance().await,
        before - Decimal::new(20000, 2),
        "two deliveries of 100.00, one of them retried twice"
    );
}

#[tokio::test]
async fn a_configured_receipts_provider_must_sign_its_receipts() {
    let rig = Rig::start("receipts_signed").await;
    let body = br#"{"key": "nope", "status": "bounced"}"#;
    let unsigned = support::inbound::post(rig.addr, "/api/v1/receipts/smtp", &[], body).await;
    assert_eq!(unsigned.status, 401, "{unsigned:?}");
    assert!(unsigned.body.contains("signature_missing"));
    let forged = standard_headers("whsec_d3Jvbmctc2VjcmV0LWtleQ==", "r1", now(), body);
    let answer = support::inbound::post(rig.addr, "/api/v1/receipts/smtp", &forged, body).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(rig.stored().await, (0, 0));

    let signed = standard_headers(SECRET, "r1", now(), body);
    let answer = support::inbound::post(rig.addr, "/api/v1/receipts/smtp", &signed, body).await;
    assert_eq!(
        answer.status, 404,
        "verified, then no such message: {answer:?}"
    );
    // A provider not in webhooks_in is still read unsigned.
    let answer = support::inbound::post(rig.addr, "/api/v1/receipts/sms", &[], body).await;
    assert_eq!(answer.status, 404, "{answer:?}");
}

#[test]
fn a_missing_or_unusable_secret_is_a_configuration_error_naming_the_variable() {
    let config = Config::from_str("relance.yaml", support::inbound::SOURCES).unwrap();
    let err = InboundSources::from_config(&config.webhooks_in, |n| {
        (n != "T_OLD").then(|| SECRET.to_string())
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("T_OLD") && err.contains("is not set"), "{err}");

    let err = InboundSources::from_config(&config.webhooks_in, |n| {
        Some(if n == "T_NEW" {
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string()
        } else {
            SECRET.to_string()
        })
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("T_NEW") && err.contains("whsec_"), "{err}");

    let bad = "webhooks_in:\n  x:\n    kind: stripe\n    source: agent\n    secrets_env: [A]\n";
    let err = Config::from_str("relance.yaml", bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("webhooks_in.x.source"), "{err}");
    let none = "webhooks_in:\n  x:\n    kind: standard\n    source: bank\n    secrets_env: []\n";
    let err = Config::from_str("relance.yaml", none)
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least one"), "{err}");
}

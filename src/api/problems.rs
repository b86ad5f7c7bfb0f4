//! The stable problem codes of the HTTP API, in one table.
//!
//! Every error the API answers is `application/problem+json` whose `title`
//! is one of these codes; clients may branch on them, so a code is never
//! renamed or given another meaning. This module only lists them: building
//! the response is [`super::Problem`]'s job, and [`super::Problem::new`]
//! refuses (in debug builds, so in every test) a code missing here.

/// Every problem code: (code, HTTP status, what it means).
pub const PROBLEM_CODES: &[(&str, u16, &str)] = &[
    (
        "invalid_json",
        400,
        "the body is not valid JSON, or not the shape the endpoint takes; the detail gives line and column",
    ),
    (
        "invalid_page",
        400,
        "`limit` is not a whole number from 1 to 500, or the cursor (`cursor`, `after`) is not one this endpoint gave",
    ),
    (
        "invalid_idempotency_key",
        400,
        "the Idempotency-Key header is empty, longer than 255 characters or not printable ASCII",
    ),
    (
        "invalid_body",
        400,
        "the body is not text the endpoint can read (a scenario upload that is not UTF-8)",
    ),
    (
        "unauthorized",
        401,
        "no `Authorization: Bearer <token>` header, or the token is unknown or revoked",
    ),
    (
        "forbidden",
        403,
        "the token's role does not have the permission this endpoint needs",
    ),
    (
        "not_found",
        404,
        "no such resource, or it belongs to a client the token does not reach",
    ),
    (
        "case_not_found",
        404,
        "no case matches the event's case_id, invoice or debtor_id for that client",
    ),
    (
        "message_not_found",
        404,
        "no message sent by relance matches the receipt's key or provider id",
    ),
    (
        "unknown_provider",
        404,
        "the receipt path names a provider relance does not know",
    ),
    (
        "signature_missing",
        401,
        "a signed webhook came without its signature headers (webhook-id, webhook-timestamp, webhook-signature, or Stripe-Signature)",
    ),
    (
        "signature_empty",
        401,
        "the signature header is there but holds no signature",
    ),
    (
        "signature_malformed",
        401,
        "a signature is not valid base64 or hex, or not 32 bytes long",
    ),
    (
        "signature_unsupported",
        401,
        "only signatures of a version relance does not check (`v2,`, `v0=`) were given",
    ),
    (
        "signature_mismatch",
        401,
        "no signature matches the body under any configured secret",
    ),
    (
        "timestamp_invalid",
        401,
        "the signed timestamp is not a number of seconds",
    ),
    (
        "timestamp_stale",
        401,
        "the signed timestamp is more than 5 minutes old",
    ),
    (
        "timestamp_future",
        401,
        "the signed timestamp is more than 5 minutes ahead",
    ),
    (
        "unknown_source",
        404,
        "the webhook path names a source that is not configured under webhooks_in",
    ),
    (
        "already_exists",
        409,
        "a client, debtor or invoice with this id exists with other values",
    ),
    (
        "instance_busy",
        409,
        "the scheduler is stepping the instance right now; send the request again",
    ),
    (
        "case_ended",
        409,
        "the case or instance has ended and takes no more changes",
    ),
    (
        "invoice_not_open",
        409,
        "the invoice is cancelled or fully credited",
    ),
    (
        "idempotency_key_in_flight",
        409,
        "a request with this Idempotency-Key is still running; retry once it has answered",
    ),
    (
        "body_too_large",
        413,
        "the request body is larger than http.body_limit_bytes",
    ),
    (
        "invalid_field",
        422,
        "a field's value is wrong; the detail names the field (`invoices[0].amount: ...`)",
    ),
    (
        "invalid_scenario",
        422,
        "the uploaded scenario does not pass `relance check`; `errors` lists every diagnostic with file, line and column",
    ),
    (
        "invalid_event",
        422,
        "the event is well-formed JSON but not a valid event (unknown type, missing or bad field)",
    ),
    (
        "invalid_receipt",
        422,
        "the receipt names neither the message's key nor the provider's id",
    ),
    (
        "idempotency_key_reused",
        422,
        "this Idempotency-Key was used by this token for another request (other body, method or path)",
    ),
    (
        "rate_limited",
        429,
        "the token sent more requests than http.rate_limit_per_second allows; wait Retry-After seconds",
    ),
    (
        "internal",
        500,
        "relance failed; nothing was changed unless the detail says otherwise",
    ),
    ("database_unavailable", 503, "the database does not answer"),
];

/// The status a code is answered with, when the code is in the table.
pub fn status_of(code: &str) -> Option<u16> {
    PROBLEM_CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, status, _)| *status)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::http::StatusCode;

    use super::*;
    use crate::api::Problem;

    #[test]
    fn every_code_appears_once_in_snake_case_with_an_error_status_and_a_meaning() {
        let mut seen = BTreeSet::new();
        for (code, status, meaning) in PROBLEM_CODES {
            assert!(seen.insert(*code), "{code} is listed twice");
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code} is not snake_case"
            );
            assert!((400..600).contains(status), "{code}: {status}");
            assert!(!meaning.is_empty(), "{code} says nothing");
        }
    }

    #[test]
    fn the_readme_documents_every_code_with_its_status() {
        let readme = include_str!("../../README.md");
        for (code, status, _) in PROBLEM_CODES {
            assert!(
                readme.contains(&format!("| `{code}` | {status} |")),
                "README.md's problem code table lacks `{code}` ({status})"
            );
        }
    }

    #[test]
    fn every_signature_refusal_is_a_listed_401() {
        for code in crate::api::signature::SIGNATURE_CODES {
            assert_eq!(status_of(code), Some(401), "{code}");
        }
    }

    #[test]
    fn a_listed_code_is_found_with_its_status() {
        assert_eq!(status_of("rate_limited"), Some(429));
        assert_eq!(status_of("idempotency_key_in_flight"), Some(409));
        assert_eq!(status_of("no_such_code"), None);
    }

    #[test]
    fn a_problem_with_a_listed_code_and_its_status_is_built() {
        let p = Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "slow down");
        assert_eq!(p.code(), "rate_limited");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "not in PROBLEM_CODES")]
    fn a_problem_with_a_code_missing_from_the_table_is_refused() {
        let _ = Problem::new(StatusCode::BAD_REQUEST, "made_up_code", "nobody listed me");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "answered with")]
    fn a_problem_with_a_listed_code_but_another_status_is_refused() {
        let _ = Problem::new(StatusCode::BAD_REQUEST, "rate_limited", "wrong status");
    }
}

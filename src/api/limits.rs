//! Limits on what one caller may ask: requests per second per token, the
//! size of a request body, and the size of a page of a list.
//!
//! The rate limit is a token bucket per API token, kept in this process's
//! memory (several processes each allow the full rate). This module limits;
//! it does not authenticate: the rate limit reads the [`Caller`] that the
//! token check put in the request before it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::{AppState, Problem};

/// The largest page a list answers.
pub const MAX_PAGE_SIZE: u64 = 500;

/// The page size when a list is asked without `limit`.
pub const DEFAULT_PAGE_SIZE: u64 = 50;

/// How the HTTP port limits its callers (from the `http` settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// Requests per second per token, on average; 0 turns the limit off.
    pub rate_limit_per_second: u32,
    /// Requests a token may make at once after being idle.
    pub rate_limit_burst: u32,
}

impl Limits {
    /// The defaults of `http.*` with another body limit.
    pub fn with_body_limit(body_limit: usize) -> Limits {
        Limits {
            body_limit,
            ..Limits::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_limit: 1024 * 1024,
            rate_limit_per_second: 50,
            rate_limit_burst: 100,
        }
    }
}

// --- pages -------------------------------------------------------------------

/// A page size from its text: 400 `invalid_page` unless it is 1 to 500.
pub fn page_limit(raw: Option<&str>) -> Result<u64, Problem> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_PAGE_SIZE);
    };
    let bad = || {
        invalid_page(format!(
            "limit `{raw}`: give a whole number from 1 to {MAX_PAGE_SIZE}"
        ))
    };
    let n = raw.trim().parse::<u64>().map_err(|_| bad())?;
    page_size(Some(n)).map_err(|_| bad())
}

/// A page size the query gave as a number (none: the default): 400
/// `invalid_page` unless it is 1 to 500.
pub fn page_size(limit: Option<u64>) -> Result<u64, Problem> {
    match limit {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Some(n) => Err(invalid_page(format!(
            "limit: {n} is out of range; give 1 to {MAX_PAGE_SIZE}"
        ))),
    }
}

/// A 400 `invalid_page` problem.
pub fn invalid_page(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid_page", detail)
}

// --- request bodies ------------------------------------------------------

/// Answers a body over the limit with a 413 `body_too_large` problem: at
/// once when `Content-Length` says so, and in place of the plain-text 413
/// that axum's body extractors give when a body without a length runs over.
pub async fn body_too_large(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit).into_response();
    }
    let response = next.run(request).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_problem {
        return too_large(limit).into_response();
    }
    response
}

/// The 413 problem for a body over `limit` bytes.
pub fn too_large(limit: usize) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body is larger than {limit} bytes (http.body_limit_bytes)"),
    )
}

// --- rate limit ------------------------------------------------------------

/// Token buckets, one per API token.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `per_second` requests a second on average, `burst` at once; 0 per
    /// second lets everything through. A burst under 1 counts as 1.
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_off(&self) -> bool {
        self.per_second <= 0.0
    }

    /// Takes one request from `key`'s bucket at `now`; when it is empty,
    /// how long until it holds one again.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.is_off() {
            return Ok(());
        }
        // A poisoned lock only means another request panicked mid-update;
        // the buckets are still numbers, so keep using them.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

/// The 429 answer: a `rate_limited` problem with `Retry-After` in whole
/// seconds (at least 1).
pub fn rate_limited(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut response = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests for this token; retry in {seconds} s"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

async fn limit_rate(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    // The token check runs first and leaves the caller in the request; a
    // request without one is not ours to count.
    // TODO: refused token checks (401) are not counted; a token is 32
    // random bytes, so guessing one is hopeless, but a flood of them still
    // costs a database lookup each.
    if let Some(caller) = request.extensions().get::<Caller>()
        && let Err(wait) = limiter.take(&caller.token_id, Instant::now())
    {
        tracing::debug!(token.id = %caller.token_id, "rate limited");
        return rate_limited(wait);
    }
    next.run(request).await
}

/// Applies the per-token rate limit to every route of `routes` (which must
/// sit inside the token check, see [`super::auth::require_token`]).
pub fn rate_limit(routes: Router<AppState>, limiter: Arc<RateLimiter>) -> Router<AppState> {
    if limiter.is_off() {
        return routes;
    }
    routes.route_layer(from_fn_with_state(limiter, limit_rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_defaults_to_fifty_and_takes_up_to_five_hundred() {
        assert_eq!(page_limit(None).unwrap(), 50);
        assert_eq!(page_limit(Some("1")).unwrap(), 1);
        assert_eq!(page_limit(Some("500")).unwrap(), MAX_PAGE_SIZE);
        for bad in ["0", "501", "-3", "ten", ""] {
            let p = page_limit(Some(bad)).unwrap_err();
            assert_eq!(p.code(), "invalid_page", "{bad}");
        }
    }

    #[test]
    fn a_bucket_lets_the_burst_through_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(2, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take("tok_a", t0).is_ok());
        }
        let wait = limiter.take("tok_a", t0).unwrap_err();
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        // Another token has its own bucket.
        assert!(limiter.take("tok_b", t0).is_ok());
        // Half a second at 2/s gives one request back, and only one.
        let later = t0 + Duration::from_millis(500);
        assert!(limiter.take("tok_a", later).is_ok());
        assert!(limiter.take("tok_a", later).is_err());
    }

    #[test]
    fn a_rate_of_zero_lets_everything_through() {
        let limiter = RateLimiter::new(0, 0);
        let now = Instant::now();
        assert!((0..10_000).all(|_| limiter.take("tok", now).is_ok()));
    }

    #[test]
    fn a_limited_answer_says_when_to_retry_in_whole_seconds() {
        let response = rate_limited(Duration::from_millis(1200));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let response = rate_limited(Duration::from_millis(10));
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}

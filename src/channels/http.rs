//! The `http` adapter: POSTs each rendered message as JSON to a provider's URL, with the
//! action's idempotency key in an `Idempotency-Key` header, and maps the answer onto
//! [`Delivery`] and [`SendError`].
//!
//! This adapter owns the wire exchange with one provider and nothing else: it never retries
//! (the dispatcher decides), never follows a redirect, and refuses loopback and private
//! addresses unless the configuration allows them. `https://` URLs are reached over TLS
//! (see `tls.rs` for whom it trusts); `http://` stays for providers on a private network
//! and for tests.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::{Channel, Delivery, Message, SendError};

/// The largest response read back; a provider's answer is a small JSON object.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// How the `http` adapter reaches its provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// `https://host[:port][/path]` (or `http://` on a private network).
    pub url: String,
    /// The whole exchange (connect, write, answer) must fit in this time.
    pub timeout: Duration,
    /// Allows loopback and private addresses (tests, a provider on the same network).
    pub allow_loopback: bool,
}

/// A provider URL the adapter cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Not `http(s)://host[:port][/path]`.
    #[error("channels.http.url `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
}

/// The parts of a provider URL.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

/// Sends messages to one HTTP provider. See the module documentation.
#[derive(Clone, Debug)]
pub struct HttpChannel {
    endpoint: Endpoint,
}

impl HttpChannel {
    /// An adapter for `settings`; the URL is checked now, the address when sending.
    pub fn new(settings: &HttpSettings) -> Result<Self, HttpError> {
        Ok(HttpChannel {
            endpoint: Endpoint::new(&settings.url, settings.timeout, settings.allow_loopback)?,
        })
    }

    async fn exchange(&self, msg: &Message) -> Result<Delivery, SendError> {
        let body = serde_json::to_vec(msg)
            .map_err(|e| SendError::Permanent(format!("cannot encode the message: {e}")))?;
        let headers = [("Idempotency-Key".to_string(), msg.key.clone())];
        let (status, body) = self
            .endpoint
            .post("application/json", &headers, &body)
            .await?;
        classify(status, &body)
    }
}

/// One provider URL, reached over HTTP/1.1 (with TLS for `https://`) with the checks every HTTP adapter shares:
/// a deadline on the whole exchange, no redirects followed, internal addresses refused unless
/// allowed. The `webhook` and `sms` adapters post through it too.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    target: Target,
    timeout: Duration,
    allow_loopback: bool,
}

impl Endpoint {
    /// An endpoint for `url`; the URL is checked now, the address when posting.
    pub(crate) fn new(
        url: &str,
        timeout: Duration,
        allow_loopback: bool,
    ) -> Result<Endpoint, HttpError> {
        Ok(Endpoint {
            target: parse_url(url)?,
            timeout,
            allow_loopback,
        })
    }

    /// POSTs `body` with `content_type` and the extra `headers`; returns the status and the
    /// body of the answer. Errors before the last byte is written are retryable, after it the
    /// outcome is unknown.
    pub(crate) async fn post(
        &self,
        content_type: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), SendError> {
        let deadline = Instant::now() + self.timeout;
        let late = |what: &str| format!("timed out {what} after {:?}", self.timeout);

        let addresses = timeout_at(
            deadline,
            tokio::net::lookup_host((self.target.host.as_str(), self.target.port)),
        )
        .await
        .map_err(|_| SendError::Retryable(late("resolving the provider")))?
        .map_err(|e| SendError::Retryable(format!("cannot resolve {}: {e}", self.target.host)))?
        .collect::<Vec<SocketAddr>>();
        let Some(address) = addresses.first().copied() else {
            return Err(SendError::Retryable(format!(
                "{} has no address",
                self.target.host
            )));
        };
        if let Some(refused) = addresses
            .iter()
            .find(|a| !self.allow_loopback && is_internal(a.ip()))
        {
            return Err(SendError::Permanent(format!(
                "{} resolves to the internal address {}; set allow_loopback in the \
                 adapter's settings to send there",
                self.target.host,
                refused.ip()
            )));
        }

        let tcp = timeout_at(deadline, TcpStream::connect(address))
            .await
            .map_err(|_| SendError::Retryable(late("connecting")))?
            .map_err(|e| SendError::Retryable(format!("cannot connect to {address}: {e}")))?;

        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\nAccept: application/json\r\n",
            self.target.path,
            self.host_header(),
            header_value(content_type),
        );
        for (name, value) in headers {
            head.push_str(&format!(
                "{}: {}\r\n",
                header_value(name),
                header_value(value)
            ));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\nUser-Agent: relance\r\n\r\n",
            body.len()
        ));
        let mut request = head.into_bytes();
        request.extend_from_slice(body);

        if !self.target.tls {
            return self.exchange(tcp, &request, deadline).await;
        }
        // A failed handshake (a certificate that does not check) happens before anything is
        // sent, and retrying will not fix it: a dead letter, as for the SMTP relay, which an
        // operator retries once the certificate or `channels.tls_ca_file` is fixed.
        let tls = timeout_at(deadline, super::tls::connect(&self.target.host, tcp))
            .await
            .map_err(|_| SendError::Retryable(late("in the TLS handshake")))?
            .map_err(|e| SendError::Permanent(format!("TLS with {}: {e}", self.target.host)))?;
        self.exchange(tls, &request, deadline).await
    }

    /// Writes `request` on `stream` and reads the answer, by `deadline`.
    async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        request: &[u8],
        deadline: Instant,
    ) -> Result<(u16, Vec<u8>), SendError> {
        let late = |what: &str| format!("timed out {what} after {:?}", self.timeout);
        // Until the last byte is written, the provider cannot have acted on the request.
        timeout_at(deadline, async {
            stream.write_all(request).await?;
            stream.flush().await
        })
        .await
        .map_err(|_| SendError::Retryable(late("writing the request")))?
        .map_err(|e| SendError::Retryable(format!("writing the request: {e}")))?;

        // From here on the provider may have sent the message, whatever happens next.
        let response = timeout_at(deadline, read_response(&mut stream))
            .await
            .map_err(|_| SendError::Unknown(late("waiting for the answer")))?
            .map_err(|e| SendError::Unknown(format!("reading the answer: {e}")))?;
        let Some((status, body)) = parse_response(&response) else {
            return Err(SendError::Unknown(
                "the connection closed before a status line came back".into(),
            ));
        };
        Ok((status, body.to_vec()))
    }

    fn host_header(&self) -> String {
        let host = if self.target.host.contains(':') {
            format!("[{}]", self.target.host)
        } else {
            self.target.host.clone()
        };
        let default_port = if self.target.tls { 443 } else { 80 };
        if self.target.port == default_port {
            host
        } else {
            format!("{host}:{}", self.target.port)
        }
    }
}

impl Channel for HttpChannel {
    fn name(&self) -> &str {
        "http"
    }

    async fn send(&self, msg: &Message) -> Result<Delivery, SendError> {
        let result = self.exchange(msg).await;
        match &result {
            Ok(delivery) => tracing::info!(
                key = %msg.key,
                channel = %msg.channel,
                case.id = %msg.case_id,
                delivery = ?delivery,
                "provider answered"
            ),
            Err(err) => {
                tracing::warn!(key = %msg.key, channel = %msg.channel, error = %err, "provider send failed")
            }
        }
        result
    }
}

/// What the provider's status means for the dispatcher (shared by the HTTP adapters).
pub(crate) fn classify(status: u16, body: &[u8]) -> Result<Delivery, SendError> {
    match status {
        200..=299 => Ok(Delivery::Sent {
            provider_id: provider_id(body),
        }),
        409 => Ok(Delivery::Duplicate),
        429 | 500..=599 => Err(SendError::Retryable(format!("provider answered {status}"))),
        300..=399 => Err(SendError::Permanent(format!(
            "provider answered {status} (a redirect, which is never followed: fix \
             channels.http.url)"
        ))),
        _ => Err(SendError::Permanent(format!(
            "provider answered {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))),
    }
}

/// The `id` (or Twilio-style `sid`) field of a JSON answer, if there is one.
fn provider_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    match value.get("id").or_else(|| value.get("sid"))? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads until the provider closes the connection (we ask for `Connection: close`) or the
/// whole body announced by `Content-Length` is there.
async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            // A TLS server that closes without close_notify: what came is the answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() >= MAX_RESPONSE_BYTES || is_complete(&buf) {
            return Ok(buf);
        }
    }
}

fn is_complete(buf: &[u8]) -> bool {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return false;
    };
    match content_length(&buf[..end]) {
        Some(len) => buf.len() >= end + 4 + len,
        None => false,
    }
}

/// The status code and the body, or `None` without a status line.
fn parse_response(buf: &[u8]) -> Option<(u16, &[u8])> {
    let line_end = find(buf, b"\r\n")?;
    let line = std::str::from_utf8(&buf[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let body = match find(buf, b"\r\n\r\n") {
        Some(end) => {
            let rest = &buf[end + 4..];
            let len = content_length(&buf[..end]).unwrap_or(rest.len());
            &rest[..len.min(rest.len())]
        }
        None => &[][..],
    };
    Some((status, body))
}

fn content_length(head: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(head).ok()?;
    head.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A header value without line breaks (keys are ours, but never trust a string on the wire).
fn header_value(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).collect()
}

/// Loopback, private, link-local, unspecified and unique-local addresses.
pub(super) fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                // 100.64.0.0/10, carrier-grade NAT.
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

fn parse_url(url: &str) -> Result<Target, HttpError> {
    let bad = |reason: &str| HttpError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(bad("expected https://host[:port][/path] (or http://)"));
    };
    let default_port = if tls { 443 } else { 80 };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.contains('@') {
        return Err(bad("credentials in the URL are not accepted"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed `[` in the host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad("the port is not a number"))?,
            None if after.is_empty() => default_port,
            None => return Err(bad("unexpected text after the host")),
        };
        (host.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (
                host.to_string(),
                port.parse().map_err(|_| bad("the port is not a number"))?,
            ),
            None => (authority.to_string(), default_port),
        }
    };
    if host.is_empty() {
        return Err(bad("the host is missing"));
    }
    if path.chars().any(|c| c.is_control() || c == ' ') {
        return Err(bad("the path holds spaces or control characters"));
    }
    Ok(Target {
        tls,
        host,
        port,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_gives_host_port_and_path() {
        assert_eq!(
            parse_url("http://127.0.0.1:8081/v1/send").unwrap(),
            Target {
                tls: false,
                host: "127.0.0.1".into(),
                port: 8081,
                path: "/v1/send".into()
            }
        );
        assert_eq!(parse_url("http://provider.example").unwrap().port, 80);
        assert_eq!(parse_url("http://[::1]:9/x").unwrap().host, "::1");
        let secure = parse_url("https://provider.example/v1").unwrap();
        assert!(secure.tls);
        assert_eq!(secure.port, 443);
        assert!(parse_url("http://user:pw@provider.example").is_err());
        assert!(parse_url("ftp://x").is_err());
    }

    #[test]
    fn statuses_map_onto_what_the_dispatcher_decides() {
        assert_eq!(
            classify(201, br#"{"id":"msg-7"}"#),
            Ok(Delivery::Sent {
                provider_id: Some("msg-7".into())
            })
        );
        assert_eq!(
            classify(200, b"ok"),
            Ok(Delivery::Sent { provider_id: None })
        );
        assert_eq!(classify(409, b""), Ok(Delivery::Duplicate));
        assert!(matches!(classify(503, b""), Err(SendError::Retryable(_))));
        assert!(matches!(classify(429, b""), Err(SendError::Retryable(_))));
        assert!(matches!(classify(302, b""), Err(SendError::Permanent(_))));
        assert!(matches!(classify(422, b""), Err(SendError::Permanent(_))));
    }

    #[test]
    fn a_response_without_a_status_line_is_not_parsed() {
        assert_eq!(parse_response(b""), None);
        assert_eq!(parse_response(b"garbage\r\n"), None);
        let (status, body) =
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra").unwrap();
        assert_eq!((status, body), (200, &b"{}"[..]));
    }

    #[test]
    fn loopback_and_private_addresses_are_internal() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }
}

//! A bare HTTP/1.1 client for the tests that talk to a real server: one
//! request per connection (`Connection: close`), read to the end, within 20
//! seconds (a bound for a hung server, not a speed check).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the server answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The status line and headers, as sent.
    pub head: String,
    /// The `Content-Type` header, lower-cased (empty without one).
    pub content_type: String,
    pub body: String,
}

impl Answer {
    /// A header's value; names are compared without case.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// Whether it is an `application/problem+json` answer with this code.
    pub fn is_problem(&self, code: &str) -> bool {
        self.content_type == "application/problem+json"
            && self.body.contains(&format!("\"title\":\"{code}\""))
    }
}

/// `method path` with `headers` (plus Host, Content-Length and, with a body,
/// `Content-Type: application/json` unless a header gives another) and `body`.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let typed = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    if method != "GET" || !body.is_empty() {
        if !typed {
            request.push_str("Content-Type: application/json\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    send_raw(addr, bytes).await
}

/// Sends raw bytes and reads the answer: what came, even if the server then
/// closed the connection hard.
pub async fn send_raw(addr: SocketAddr, request: Vec<u8>) -> Answer {
    let talk = async {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = conn.write_all(&request).await;
        let mut answer = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    };
    let text = tokio::time::timeout(Duration::from_secs(20), talk)
        .await
        .expect("the server answers within 20 s");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let mut answer = Answer {
        status,
        head: head.to_string(),
        content_type: String::new(),
        body: body.to_string(),
    };
    answer.content_type = answer
        .header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    answer
}

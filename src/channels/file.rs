//! The `file` adapter: writes what would be sent to a folder, one text file a message, with
//! the PDFs it would carry beside it.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::{Channel, Delivery, Message, SendError};

/// Longest encoded key kept whole in a file name; longer keys are cut and suffixed with a
/// hash, so that names stay under the 255 bytes file systems allow.
const MAX_NAME: usize = 160;

/// Numbers the temporary files of this process.
static TEMP_SERIAL: AtomicU64 = AtomicU64::new(0);

/// Writes each message to `<dir>/<channel>/<key>.txt`: `To`, `Subject` and `Key` headers,
/// a blank line, then the body. Beside it go the PDFs the message would carry: the letter
/// itself for letter, registered mail and fax (`<key>.pdf`), and each attachment
/// (`<key>.<attachment name>`, such as `<key>.invoice-F-2026-0142.pdf`). A document that
/// cannot be built is left out with a warning.
///
/// The file appears whole or not at all (written aside, then linked into place), and a key
/// that already has a file is reported as [`Delivery::Duplicate`] without rewriting it.
#[derive(Clone, Debug)]
pub struct FileChannel {
    dir: PathBuf,
}

impl FileChannel {
    /// An adapter writing below `dir`; folders are created on the first send.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileChannel { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the message with this key on this channel is (or would be) written.
    pub fn path_of(&self, channel: crate::scenario::Channel, key: &str) -> PathBuf {
        self.dir
            .join(channel.name())
            .join(format!("{}.txt", file_stem(key)))
    }
}

impl Channel for FileChannel {
    fn name(&self) -> &str {
        "file"
    }

    async fn send(&self, msg: &Message) -> Result<Delivery, SendError> {
        if msg.key.is_empty() {
            return Err(SendError::Permanent(
                "the message has no idempotency key".to_owned(),
            ));
        }
        let path = self.path_of(msg.channel, &msg.key);
        let text = render_file(msg);
        let key = msg.key.clone();
        let documents = if path.exists() {
            Vec::new()
        } else {
            documents_of(msg, &path)
        };
        let written = tokio::task::spawn_blocking(move || {
            // The text file comes last: once it is there, the message counts as written.
            for (doc_path, bytes) in &documents {
                write_once(doc_path, &key, bytes)?;
            }
            write_once(&path, &key, text.as_bytes())
        })
        .await
        .map_err(|err| SendError::Unknown(format!("the file writer stopped: {err}")))?;
        match written {
            Ok(true) => Ok(Delivery::Sent { provider_id: None }),
            Ok(false) => Ok(Delivery::Duplicate),
            Err(err) => Err(SendError::Retryable(format!(
                "cannot write the message file: {err}"
            ))),
        }
    }
}

/// The PDFs written beside the text file at `path`, with their paths.
fn documents_of(msg: &Message, path: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    use crate::scenario::Channel as Kind;

    let beside = |suffix: &str| {
        let mut name = path.file_stem().unwrap_or_default().to_os_string();
        name.push(suffix);
        path.with_file_name(name)
    };
    let mut out = Vec::new();
    if matches!(msg.channel, Kind::Letter | Kind::RegisteredMail | Kind::Fax) {
        match super::letter(msg) {
            Ok(bytes) => out.push((beside(".pdf"), bytes)),
            Err(err) => {
                tracing::warn!(key = %msg.key, error = %err, "letter PDF not built; left out")
            }
        }
    }
    for name in &msg.attachments {
        match super::attachment(msg, name) {
            Ok(doc) => out.push((beside(&format!(".{}", document_name(name))), doc.bytes)),
            Err(err) => {
                tracing::warn!(key = %msg.key, attachment = %name, error = %err, "document not built; left out")
            }
        }
    }
    out
}

/// Writes `bytes` at `path` unless a file is there already; `Ok(false)` when it was.
fn write_once(path: &Path, key: &str, bytes: &[u8]) -> io::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    let Some(folder) = path.parent() else {
        return Err(io::Error::other("the message path has no folder"));
    };
    fs::create_dir_all(folder)?;

    // Unique per process and per write, so that concurrent sends never share a temp file.
    let serial = TEMP_SERIAL.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let temp = folder.join(format!(".{}.{pid}-{serial}.tmp", file_stem(key)));
    {
        let mut file = fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }

    // A hard link fails when the name exists, so two senders of one key cannot both win.
    let placed = match fs::hard_link(&temp, path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(_) if !path.exists() => fs::rename(&temp, path).map(|()| true),
        Err(err) => Err(err),
    };
    let _ = fs::remove_file(&temp);
    placed
}

/// The file's text: headers, a blank line, the body.
fn render_file(msg: &Message) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "To: {}", to_line(msg));
    if let Some(subject) = &msg.subject {
        let _ = writeln!(text, "Subject: {subject}");
    }
    let _ = writeln!(text, "Key: {}", msg.key);
    if !msg.attachments.is_empty() {
        let _ = writeln!(text, "Attachments: {}", msg.attachments.join(", "));
    }
    text.push('\n');
    text.push_str(&msg.body);
    if !msg.body.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// The recipient as this channel reaches them.
fn to_line(msg: &Message) -> String {
    use crate::scenario::Channel as Kind;

    let to = &msg.to;
    let contact = match msg.channel {
        Kind::Email => to.email.clone(),
        Kind::Sms | Kind::Message => to.mobile.clone().or_else(|| to.phone.clone()),
        Kind::Phone | Kind::Voice | Kind::Fax => to.phone.clone().or_else(|| to.mobile.clone()),
        Kind::Letter | Kind::RegisteredMail => {
            (!to.address.is_empty()).then(|| to.address.join(", "))
        }
        Kind::Webhook => to.partner.clone(),
    };
    match contact {
        Some(contact) => format!("{} <{contact}>", to.name),
        None => to.name.clone(),
    }
}

/// An attachment's name as the end of a file name: letters, digits, `-`, `_` and `.` stay,
/// anything else (a `/` in an invoice number) becomes `_`.
fn document_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A file name stem for any key: letters, digits, `-` and `_` stay, every other byte is
/// written `%XX`, so that distinct keys never share a file and no key leaves the folder.
fn file_stem(key: &str) -> String {
    let mut stem = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            stem.push(char::from(byte));
        } else {
            let _ = write!(stem, "%{byte:02X}");
        }
    }
    if stem.len() > MAX_NAME {
        let digest = Sha256::digest(key.as_bytes());
        let mut hash = String::new();
        for byte in &digest[..16] {
            let _ = write!(hash, "{byte:02x}");
        }
        stem.truncate(MAX_NAME - hash.len() - 1);
        stem.push('~');
        stem.push_str(&hash);
    }
    stem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_slashes_and_dots_become_flat_names() {
        assert_eq!(file_stem("inst-1/v2/notice/3"), "inst-1%2Fv2%2Fnotice%2F3");
        assert_eq!(file_stem(".."), "%2E%2E");
        assert_ne!(file_stem("a/b"), file_stem("a_b"));
    }

    #[test]
    fn long_keys_are_cut_with_a_hash_that_keeps_them_apart() {
        let a = "x".repeat(400);
        let b = format!("{}y", "x".repeat(399));
        assert!(file_stem(&a).len() <= MAX_NAME);
        assert_ne!(file_stem(&a), file_stem(&b));
    }
}

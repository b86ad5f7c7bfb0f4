//! The layout of a template file: an optional `subject:` header line, a blank line, then the
//! body; and the mapping of positions inside each part back to the file.

/// The header that starts a template file carrying a subject.
pub(crate) const SUBJECT_HEADER: &str = "subject:";

/// One part of a template file that Handlebars compiles on its own.
#[derive(Clone, Debug)]
pub(crate) struct Section {
    pub text: String,
    /// Lines of the file before this part (0 for the subject, 2 for a body after a subject).
    pub line_offset: usize,
    /// Characters of the file before this part on its first line (the `subject:` header).
    pub column_offset: usize,
}

impl Section {
    /// The 1-based file position of a 1-based position inside this part.
    pub fn to_file(&self, line: usize, column: usize) -> (usize, usize) {
        let column = if line == 1 {
            column + self.column_offset
        } else {
            column
        };
        (line + self.line_offset, column)
    }
}

/// A template file split into its subject and body.
#[derive(Clone, Debug)]
pub(crate) struct SplitSource {
    pub subject: Option<Section>,
    pub body: Section,
}

/// A problem with the header layout, at a 1-based file position.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LayoutError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Splits a file into its optional subject and its body.
///
/// A file whose first line starts with `subject:` carries a subject: the rest of that line
/// (a Handlebars template itself). The second line must be blank and the body starts on
/// the third. Any other file is all body.
pub(crate) fn split(text: &str) -> Result<SplitSource, LayoutError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.starts_with(SUBJECT_HEADER) {
        return Ok(SplitSource {
            subject: None,
            body: Section {
                text: text.to_owned(),
                line_offset: 0,
                column_offset: 0,
            },
        });
    }

    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let first = first.strip_suffix('\r').unwrap_or(first);
    let after_header = &first[SUBJECT_HEADER.len()..];
    let subject = after_header.trim_start();
    let column_offset = first.chars().count() - subject.chars().count();
    let subject = subject.trim_end();
    if subject.is_empty() {
        return Err(LayoutError {
            line: 1,
            column: SUBJECT_HEADER.len() + 1,
            message: "the `subject:` header is empty; write the subject after it".to_owned(),
        });
    }

    let (second, body) = rest.split_once('\n').unwrap_or((rest, ""));
    if !second.trim().is_empty() {
        return Err(LayoutError {
            line: 2,
            column: 1,
            message: "the `subject:` line must be followed by a blank line, then the body"
                .to_owned(),
        });
    }

    Ok(SplitSource {
        subject: Some(Section {
            text: subject.to_owned(),
            line_offset: 0,
            column_offset,
        }),
        body: Section {
            text: body.to_owned(),
            line_offset: 2,
            column_offset: 0,
        },
    })
}

/// The byte offset of a 1-based line and character column in `text`, clamped to its end.
pub(crate) fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for _ in 1..line {
        match text[offset..].find('\n') {
            Some(i) => offset += i + 1,
            None => return text.len(),
        }
    }
    text[offset..]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(text.len(), |(i, _)| offset + i)
}

/// The 1-based line and character column of a byte offset in `text`.
pub(crate) fn position_of(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_header_is_all_body() {
        let split = split("Hello\n{{x}}\n").expect("splits");
        assert!(split.subject.is_none());
        assert_eq!(split.body.text, "Hello\n{{x}}\n");
        assert_eq!(split.body.to_file(2, 3), (2, 3));
    }

    #[test]
    fn the_subject_header_is_followed_by_a_blank_line_and_the_body() {
        let split = split("subject:  Hi {{a}}  \r\n\r\nBody {{b}}\n").expect("splits");
        let subject = split.subject.expect("a subject");
        assert_eq!(subject.text, "Hi {{a}}");
        assert_eq!(
            subject.to_file(1, 4),
            (1, 14),
            "`{{a}}` is at column 14 of the file"
        );
        assert_eq!(split.body.text, "Body {{b}}\n");
        assert_eq!(split.body.to_file(1, 6), (3, 6));
    }

    #[test]
    fn a_header_without_blank_line_or_text_is_refused() {
        let err = split("subject: Hi\nBody\n").expect_err("no blank line");
        assert_eq!((err.line, err.column), (2, 1));
        let err = split("subject:   \n\nBody\n").expect_err("empty subject");
        assert_eq!((err.line, err.column), (1, 9));
    }

    #[test]
    fn offsets_and_positions_count_characters_not_bytes() {
        let text = "é1\nàb{{x}}";
        let offset = offset_of(text, 2, 3);
        assert_eq!(&text[offset..offset + 2], "{{");
        assert_eq!(position_of(text, offset), (2, 3));
        assert_eq!(offset_of(text, 9, 1), text.len());
    }
}

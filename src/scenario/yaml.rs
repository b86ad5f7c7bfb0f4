//! A YAML document as a tree of nodes that remember where they stand.
//!
//! serde-saphyr parses; this tree keeps each node's line and column and,
//! for scalars, how the value was written (plain, quoted or block), so that
//! a position inside a Rhai expression can be mapped back into the file.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Where a node starts in its file (1-based line and column, byte offset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
    pub offset: Option<usize>,
}

/// How a scalar was written, which decides where its text starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

/// A YAML value with its position.
#[derive(Clone, Debug)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    /// Integers and other numbers keep their text, so that `12.50` stays
    /// `12.50` and is read as a decimal, never as a float.
    Number(String),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// Short name of the node's type, for messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The scalar's text: strings and numbers as written, booleans as
    /// `true`/`false`.
    pub fn as_text(&self) -> Option<String> {
        match &self.value {
            Value::String(s) | Value::Number(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// How the scalar was written, read from the source at its offset.
    pub fn style(&self, source: &str) -> Style {
        let Some(offset) = self.pos.offset else {
            return Style::Plain;
        };
        match source.as_bytes().get(offset) {
            Some(b'"') | Some(b'\'') => Style::Quoted,
            _ if is_block_content(source, offset) => Style::Block,
            _ => Style::Plain,
        }
    }

    /// Maps a 1-based line and column inside this scalar's text to the file.
    pub fn locate(&self, source: &str, line: usize, column: usize) -> (usize, usize) {
        let line = line.max(1);
        let column = column.max(1);
        match self.style(source) {
            Style::Quoted if line == 1 => {
                let offset = self.pos.offset.unwrap_or_default();
                let written = quoted_width(source, offset, column - 1);
                (self.pos.line, self.pos.column + 1 + written)
            }
            Style::Plain | Style::Quoted if line == 1 => {
                (self.pos.line, self.pos.column + column - 1)
            }
            _ => (self.pos.line + line - 1, self.pos.column + column - 1),
        }
    }
}

/// How many source characters the first `chars` characters of the quoted
/// scalar opening at byte `offset` take: an escape such as `\"` or a doubled
/// `''` is two characters in the file for one in the value.
// TODO: a quoted scalar folded over several lines maps only its first line
// exactly; later lines fall back to the block rule.
fn quoted_width(source: &str, offset: usize, chars: usize) -> usize {
    let Some(rest) = source.get(offset..) else {
        return chars;
    };
    let mut it = rest.chars();
    let Some(quote) = it.next() else {
        return chars;
    };
    let mut written = 0;
    for done in 0..chars {
        let width = match it.next() {
            None | Some('\n') => return written + chars - done,
            Some('\\') if quote == '"' => {
                let digits = match it.next() {
                    Some('x') => 2,
                    Some('u') => 4,
                    Some('U') => 8,
                    _ => 0,
                };
                it.by_ref().take(digits).for_each(drop);
                2 + digits
            }
            Some('\'') if quote == '\'' => {
                it.next();
                2
            }
            Some(_) => 1,
        };
        written += width;
    }
    written
}

/// A block scalar's position is its first content line; its indicator
/// (`|`, `>`, with chomping) ends the line before.
fn is_block_content(source: &str, offset: usize) -> bool {
    let Some(before) = source.get(..offset) else {
        return false;
    };
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    if line_start == 0 || !before[line_start..].trim().is_empty() {
        return false;
    }
    let previous = before[..line_start - 1].rsplit('\n').next().unwrap_or("");
    let last_token = previous.trim_end().rsplit([' ', '\t']).next().unwrap_or("");
    last_token.starts_with('|') || last_token.starts_with('>')
}

fn pos_of<T>(spanned: &Spanned<T>) -> Pos {
    let loc = &spanned.referenced;
    Pos {
        line: loc.line() as usize,
        column: loc.column() as usize,
        offset: loc.span().byte_offset().map(|o| o as usize),
    }
}

struct Raw(Value);

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw(Value::Null))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw(Value::Number(v.to_string())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw(Value::Number(v.to_string())))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw(Value::Number(v.to_string())))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw(Value::Number(v.to_string())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        // Replaced by the source text in `Node::from_spanned`.
        Ok(Raw(Value::Number(v.to_string())))
    }

    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw(Value::String(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw(Value::String(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(Node::from_spanned(item));
        }
        Ok(Raw(Value::Seq(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<Spanned<Raw>, Spanned<Raw>>()? {
            entries.push((Node::from_spanned(k), Node::from_spanned(v)));
        }
        Ok(Raw(Value::Map(entries)))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _data: A) -> Result<Raw, A::Error> {
        Err(de::Error::custom(
            "tagged YAML values are not supported here",
        ))
    }
}

impl Node {
    fn from_spanned(spanned: Spanned<Raw>) -> Node {
        Node {
            pos: pos_of(&spanned),
            value: spanned.value.0,
        }
    }
}

/// A YAML syntax error, with its place.
#[derive(Clone, Debug)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parses one YAML document into a positioned tree.
pub fn parse(source: &str) -> Result<Node, SyntaxError> {
    let parsed: Result<Spanned<Raw>, _> = serde_saphyr::from_str(source);
    match parsed {
        Ok(root) => {
            let mut node = Node::from_spanned(root);
            restore_number_text(&mut node, source);
            Ok(node)
        }
        Err(err) => {
            let (line, column) = err
                .location()
                .map(|l| (l.line() as usize, l.column() as usize))
                .unwrap_or((1, 1));
            let text = err.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid YAML")
                .trim_start_matches("error: ");
            let message = match first.split_once(": ") {
                Some((place, rest)) if place.starts_with("line ") => rest.to_string(),
                _ => first.to_string(),
            };
            Err(SyntaxError {
                line,
                column,
                message: format!("invalid YAML: {message}"),
            })
        }
    }
}

/// Numbers are re-read from the source, so that decimals keep every digit.
fn restore_number_text(node: &mut Node, source: &str) {
    match &mut node.value {
        Value::Number(text) => {
            if let Some(offset) = node.pos.offset {
                let rest = &source[offset.min(source.len())..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "+-._".contains(c)))
                    .unwrap_or(rest.len());
                let written = &rest[..end];
                if !written.is_empty() {
                    *text = written.replace('_', "");
                }
            }
        }
        Value::Bool(_) => {
            // YAML 1.1 reads `on`, `yes`, `off`... as booleans; relance
            // keeps only `true` and `false` as booleans, so that `on:` is a key.
            if let Some(offset) = node.pos.offset {
                let rest = &source[offset.min(source.len())..];
                let end = rest
                    .find(|c: char| !c.is_ascii_alphabetic())
                    .unwrap_or(rest.len());
                let written = &rest[..end];
                if !written.eq_ignore_ascii_case("true") && !written.eq_ignore_ascii_case("false") {
                    node.value = Value::String(written.to_string());
                }
            }
        }
        Value::Seq(items) => items
            .iter_mut()
            .for_each(|n| restore_number_text(n, source)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            restore_number_text(k, source);
            restore_number_text(v, source);
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_keep_positions_and_decimal_text() {
        let src = "a: 12.50\nb:\n  - \"x > 1\"\nc: |\n  y > 2\n";
        let root = parse(src).unwrap();
        let map = root.as_map().unwrap();
        assert_eq!(map[0].1.as_text().as_deref(), Some("12.50"));
        let Value::Seq(items) = &map[1].1.value else {
            panic!("b is a list")
        };
        assert_eq!((items[0].pos.line, items[0].pos.column), (3, 5));
        assert_eq!(items[0].style(src), Style::Quoted);
        assert_eq!(items[0].locate(src, 1, 3), (3, 8));
        assert_eq!(map[2].1.style(src), Style::Block);
        assert_eq!(map[2].1.locate(src, 1, 3), (5, 5));
    }

    #[test]
    fn syntax_errors_carry_their_place() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 2));
    }
}

//! Reading a JSON import file (an array of objects) into records.

use std::collections::BTreeMap;

use serde_json::Value;

use super::RowError;
use super::columns;
use super::row::{self, Record};

/// The 1-based line on which each element of the top-level array starts. `text` must be
/// valid JSON whose top level is an array.
fn element_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut line = 1;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut awaiting_element = false;
    for c in text.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                '\n' => line += 1,
                _ => {}
            }
            continue;
        }
        if c == '\n' {
            line += 1;
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if awaiting_element && c != ']' {
            lines.push(line);
        }
        awaiting_element = false;
        match c {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                awaiting_element = depth == 1;
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => awaiting_element = true,
            _ => {}
        }
    }
    lines
}

/// The message of a serde_json error without its trailing "at line L column C".
fn bare_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// The text of one value, or why it is refused.
fn cell(key: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.trim().to_owned()),
        Value::Null => Ok(String::new()),
        Value::Number(number) if matches!(key, "amount" | "open_amount") => {
            if number.is_i64() || number.is_u64() {
                Ok(number.to_string())
            } else {
                Err(format!(
                    "write an amount with decimals as a string, e.g. \"{number}\": \
                     JSON numbers are only accepted for whole amounts"
                ))
            }
        }
        Value::Array(items) if key == "address" => items
            .iter()
            .map(|item| item.as_str().map(str::trim))
            .collect::<Option<Vec<_>>>()
            .map(|lines| lines.join("|"))
            .ok_or_else(|| "an address array must hold strings only".to_owned()),
        _ if key == "address" => Err("must be a string or an array of strings".to_owned()),
        _ => Err("must be a string".to_owned()),
    }
}

/// The records of `text` and every error that prevents reading one.
pub(crate) fn read(file: &str, text: &str) -> (Vec<Record>, Vec<RowError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let at = |line: usize, message: String| RowError {
        file: file.to_owned(),
        line,
        column: None,
        message,
    };

    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => {
            let message = format!(
                "invalid JSON at column {}: {}",
                err.column(),
                bare_message(&err)
            );
            return (Vec::new(), vec![at(err.line().max(1), message)]);
        }
    };
    let Value::Array(elements) = value else {
        let message = "the file must be a JSON array of objects, one per invoice".to_owned();
        return (Vec::new(), vec![at(1, message)]);
    };
    if elements.is_empty() {
        return (
            Vec::new(),
            vec![at(1, "the array has no invoice objects".to_owned())],
        );
    }

    let lines = element_lines(text);
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for (index, element) in elements.into_iter().enumerate() {
        let mut record = Record {
            line: lines.get(index).copied().unwrap_or(1),
            object: Some(index + 1),
            cells: BTreeMap::new(),
        };
        let Value::Object(object) = element else {
            errors.push(row::error(
                file,
                &record,
                None,
                "each element must be an object",
            ));
            continue;
        };
        let mut usable = true;
        for (key, value) in &object {
            let name = key.trim().to_ascii_lowercase();
            if !columns::is_known(&name) {
                let message = columns::unknown_message(&name);
                errors.push(row::error(file, &record, Some(key), &message));
                continue;
            }
            if record.cells.contains_key(&name) {
                let message = "key appears twice (in another letter case)";
                errors.push(row::error(file, &record, Some(&name), message));
                usable = false;
                continue;
            }
            match cell(&name, value) {
                Ok(text) => {
                    record.cells.insert(name, text);
                }
                Err(message) => {
                    errors.push(row::error(file, &record, Some(&name), &message));
                    usable = false;
                }
            }
        }
        // TODO: an object with a value of the wrong type is not checked further, so its
        // other problems only show once that value is fixed.
        if usable {
            records.push(record);
        }
    }
    (records, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_lines_ignore_brackets_inside_strings() {
        let text = "[\n  {\"a\": \"[{,\\\"\"},\n\n  {\"b\": [1, 2]}, {}\n]";
        assert_eq!(element_lines(text), vec![2, 4, 4]);
    }
}

//! Finds which setting a line of a configuration file belongs to, so that
//! errors can name the field (`http.listen`, `jobs[1].cron`).
//!
//! It reads block-style YAML by indentation only; it validates nothing and
//! gives up quietly (an empty path) on anything it does not follow.

/// One key line: its 1-based line and column and its dotted path.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KeyLine {
    pub line: usize,
    pub column: usize,
    pub path: String,
}

#[derive(Clone, Debug)]
enum Segment {
    Key(String),
    Item(usize),
}

/// Every key line of `source`, in order.
pub(crate) fn key_lines(source: &str) -> Vec<KeyLine> {
    let mut stack: Vec<(usize, Segment)> = Vec::new();
    let mut out = Vec::new();

    for (index, raw) in source.lines().enumerate() {
        let body = raw.trim_end();
        let mut indent = body.len() - body.trim_start().len();
        let mut rest = body.trim_start();
        if rest.is_empty() || rest.starts_with('#') || rest == "---" {
            continue;
        }

        // List items, possibly nested on one line (`- - a`).
        while rest == "-" || rest.starts_with("- ") {
            let mut next = 0;
            while let Some((top, segment)) = stack.last() {
                let same_item = *top == indent && matches!(segment, Segment::Item(_));
                if *top > indent || same_item {
                    if let (true, Segment::Item(i)) = (same_item, segment) {
                        next = i + 1;
                    }
                    stack.pop();
                } else {
                    break;
                }
            }
            stack.push((indent, Segment::Item(next)));
            let after = &rest[1..];
            let inner = after.len() - after.trim_start().len();
            indent += 1 + inner;
            rest = after.trim_start();
        }

        let Some(key) = key_of(rest) else {
            continue;
        };
        while stack.last().is_some_and(|(top, _)| *top >= indent) {
            stack.pop();
        }
        stack.push((indent, Segment::Key(key)));
        out.push(KeyLine {
            line: index + 1,
            column: indent + 1,
            path: render(&stack),
        });
    }
    out
}

/// The path of the setting written on `line`, or of the nearest key above.
pub(crate) fn path_at(source: &str, line: usize) -> String {
    key_lines(source)
        .into_iter()
        .take_while(|k| k.line <= line)
        .last()
        .map(|k| k.path)
        .unwrap_or_default()
}

/// The place of the key whose path is `path`.
pub(crate) fn place_of(source: &str, path: &str) -> Option<(usize, usize)> {
    key_lines(source)
        .into_iter()
        .find(|k| k.path == path)
        .map(|k| (k.line, k.column))
}

fn key_of(rest: &str) -> Option<String> {
    let colon = rest
        .find(": ")
        .or_else(|| rest.ends_with(':').then(|| rest.len() - 1))?;
    let key = rest[..colon].trim();
    if key.is_empty() || key.starts_with(['{', '[', '#']) {
        return None;
    }
    Some(key.trim_matches(['"', '\'']).to_string())
}

fn render(stack: &[(usize, Segment)]) -> String {
    let mut path = String::new();
    for (_, segment) in stack {
        match segment {
            Segment::Key(key) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Segment::Item(i) => path.push_str(&format!("[{i}]")),
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "\
http:
  listen: 127.0.0.1:8080   # comment
jobs:
  - name: a
    cron: \"0 6 * * *\"
  - name: b
    cron: x
retention:
  journal_days: 1
";

    #[test]
    fn nested_keys_and_list_items_get_dotted_paths() {
        assert_eq!(path_at(SOURCE, 2), "http.listen");
        assert_eq!(path_at(SOURCE, 5), "jobs[0].cron");
        assert_eq!(path_at(SOURCE, 7), "jobs[1].cron");
        assert_eq!(path_at(SOURCE, 9), "retention.journal_days");
    }

    #[test]
    fn a_key_is_found_by_its_path() {
        assert_eq!(place_of(SOURCE, "jobs[1].name"), Some((6, 5)));
        assert_eq!(place_of(SOURCE, "nothing"), None);
    }
}

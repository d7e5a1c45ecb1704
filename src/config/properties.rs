//! Java `.properties` syntax (`java.util.Properties.load`), the format of Confluent's
//! `schema-registry.properties`: `key=value`, `key: value` or `key value`; `#` and `!` comment
//! lines; a line ending in an odd number of backslashes continues on the next (whose leading
//! blanks are dropped); `\t \n \r \f \uXXXX` escapes, any other escaped character stands for
//! itself. No crate for it is in use, and the grammar is this small.

use std::collections::BTreeMap;

/// Blanks as Java counts them: space, tab, form feed.
fn blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

/// The key/value pairs of `text`; a key given twice keeps its last value, as in Java.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (number, line) in logical_lines(text) {
        let (key, value) = split(&line).map_err(|e| format!("line {number}: {e}"))?;
        out.insert(key, value);
    }
    Ok(out)
}

/// The logical lines (continuations joined, escapes still raw) with the number of the natural
/// line each starts on; blank and comment lines are left out.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let naturals = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    for (i, natural) in naturals.enumerate() {
        let trimmed = natural.trim_start_matches(blank);
        let (start, mut line) = match current.take() {
            Some((start, so_far)) => (start, so_far + trimmed),
            None if trimmed.is_empty() || trimmed.starts_with(['#', '!']) => continue,
            None => (i + 1, trimmed.to_string()),
        };
        let backslashes = line.chars().rev().take_while(|&c| c == '\\').count();
        if backslashes % 2 == 1 {
            line.pop();
            current = Some((start, line));
        } else {
            lines.push((start, line));
        }
    }
    // A continuation on the last line continues into nothing.
    lines.extend(current);
    lines
}

/// Splits a logical line at the first unescaped `=`, `:` or blank, and unescapes both sides.
fn split(line: &str) -> Result<(String, String), String> {
    let mut escaped = false;
    let mut end = line.len();
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || blank(c) {
            end = i;
            break;
        }
    }
    let (key, rest) = line.split_at(end);
    let rest = rest.trim_start_matches(blank);
    let rest = rest
        .strip_prefix(['=', ':'])
        .unwrap_or(rest)
        .trim_start_matches(blank);
    Ok((unescape(key)?, unescape(rest)?))
}

fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .ok_or_else(|| format!("malformed \\u escape '\\u{hex}'"))?;
                // A lone surrogate half (Java strings are UTF-16) cannot be a Rust char.
                out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap().into_iter().collect()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn separators_comments_and_blanks() {
        let text = "# comment\n! also a comment\n\n   \na=1\nb : 2\n  c 3\nd=\ne\nf = x = y\n";
        assert_eq!(
            pairs(text),
            [
                p("a", "1"),
                p("b", "2"),
                p("c", "3"),
                p("d", ""),
                p("e", ""),
                p("f", "x = y")
            ]
        );
    }

    #[test]
    fn continuations_and_escapes() {
        let text = "list = a,\\\n       b,\\\r\n   c\nkey\\ with\\=odd\\:chars = \\tv\\u00e9\\\\\n\
                    path=C:\\\\dir\\\\\nlast=x\\";
        assert_eq!(
            pairs(text),
            [
                p("key with=odd:chars", "\tvé\\"),
                p("last", "x"),
                p("list", "a,b,c"),
                p("path", "C:\\dir\\"),
            ]
        );
    }

    #[test]
    fn a_comment_line_does_not_continue_and_later_keys_win() {
        assert_eq!(pairs("# a \\\nk=1\nk=2"), [p("k", "2")]);
    }

    #[test]
    fn malformed_unicode_escapes_are_refused_with_their_line() {
        let err = parse("ok=1\nbad=\\u12g4\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(parse("bad=\\u12").is_err());
    }
}

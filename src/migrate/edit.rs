//! Surgical text edits on a YAML source, placed by the spans of [`super::yaml`] nodes: replace a
//! scalar (keeping its quoting), rename a key, insert or remove a mapping entry, re-indent a block.
//! Everything an edit does not cover stays byte for byte.

use serde_saphyr::granit_parser::ScalarStyle;

use super::yaml::{Node, resolve_plain};

/// Replace `start..end` with `text` (an insertion when `start == end`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    /// First byte replaced.
    pub start: usize,
    /// Byte past the last one replaced.
    pub end: usize,
    /// The new text.
    pub text: String,
}

/// Two edits touch the same bytes: a translation bug, never the user's input.
#[derive(Debug, thiserror::Error)]
#[error("overlapping edits at bytes {first:?} and {second:?}")]
pub struct Overlap {
    /// One edit's range.
    pub first: (usize, usize),
    /// The other's.
    pub second: (usize, usize),
}

/// Applies non-overlapping edits (insertions at one place keep their order).
pub fn apply(source: &str, edits: &[Edit]) -> Result<String, Overlap> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(source.len());
    let mut at = 0;
    let mut previous: Option<&Edit> = None;
    for edit in sorted {
        if let Some(p) = previous
            && p.end > edit.start
        {
            return Err(Overlap {
                first: (p.start, p.end),
                second: (edit.start, edit.end),
            });
        }
        out.push_str(&source[at..edit.start]);
        out.push_str(&edit.text);
        at = edit.end;
        previous = Some(edit);
    }
    out.push_str(&source[at..]);
    Ok(out)
}

/// `value` as a YAML double-quoted scalar (JSON's escaping is valid YAML).
pub fn double_quoted(value: &str) -> String {
    serde_json::to_string(value).expect("a string serializes")
}

/// Whether `value` can be written plain and still read back as this string.
pub fn plain_safe(value: &str) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    resolve_plain(value).is_string()
        && !value.contains(": ")
        && !value.contains(" #")
        && !value.ends_with(':')
        && value.trim() == value
        && !"-?:,[]{}#&*!|>'\"%@`".contains(first)
        && value
            .chars()
            .all(|c| !c.is_control() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
}

/// `value` written as a scalar of `style` was: plain stays plain when it can, single quotes stay
/// single, anything else is double-quoted.
pub fn scalar_like(style: Option<ScalarStyle>, value: &str) -> String {
    match style {
        Some(ScalarStyle::Plain) if plain_safe(value) => value.to_owned(),
        Some(ScalarStyle::SingleQuoted) if !value.contains('\n') => {
            format!("'{}'", value.replace('\'', "''"))
        }
        _ => double_quoted(value),
    }
}

/// A mapping key: plain when possible.
pub fn key_text(key: &str) -> String {
    if plain_safe(key) {
        key.to_owned()
    } else {
        double_quoted(key)
    }
}

/// Replaces a scalar node's text.
pub fn replace(node: &Node, text: String) -> Edit {
    Edit {
        start: node.start,
        end: node.end,
        text,
    }
}

/// Start of the line holding `pos`.
pub fn line_start(src: &str, pos: usize) -> usize {
    src[..pos].rfind('\n').map_or(0, |i| i + 1)
}

/// End of the line holding `pos` (the `\n`, or the end of the text).
pub fn line_end(src: &str, pos: usize) -> usize {
    src[pos..].find('\n').map_or(src.len(), |i| pos + i)
}

/// Where the last line of a block entry whose value is `value` ends (before its `\n`): after a
/// block scalar, which ends at the start of the next line, that is just before it; otherwise the
/// rest of the line (only a comment can follow a value in block context).
pub fn value_line_end(src: &str, value: &Node) -> usize {
    if value.end > 0 && src.as_bytes()[value.end - 1] == b'\n' {
        value.end - 1
    } else {
        line_end(src, value.end)
    }
}

/// Removes entry `index` of `map`. A block entry goes with its whole lines; `None` when its key
/// does not start its line (the first entry of a `- key: value` item).
pub fn remove_entry(src: &str, map: &Node, index: usize) -> Option<Edit> {
    let entries = map.entries();
    let entry = entries.get(index)?;
    if map.is_flow_map() {
        let (start, end) = if entries.len() == 1 {
            return Some(Edit {
                start: map.start,
                end: map.end,
                text: "{}".into(),
            });
        } else if index + 1 < entries.len() {
            (entry.key.start, entries[index + 1].key.start)
        } else {
            (entries[index - 1].value.end, entry.value.end)
        };
        return Some(Edit {
            start,
            end,
            text: String::new(),
        });
    }
    let start = line_start(src, entry.key.start);
    if !src[start..entry.key.start].bytes().all(|b| b == b' ') {
        return None;
    }
    let end = value_line_end(src, &entry.value);
    Some(Edit {
        start,
        end: (end + 1).min(src.len()),
        text: String::new(),
    })
}

/// Adds `key: value` (texts already rendered) at the end of `map`.
pub fn insert_entry(src: &str, map: &Node, key: &str, value: &str) -> Edit {
    insert_lines(src, map, &[format!("{key}: {value}")])
}

/// The line break the source uses (`\r\n` for Windows-style files), for inserted lines.
pub fn newline(src: &str) -> &'static str {
    if src.contains("\r\n") { "\r\n" } else { "\n" }
}

/// Adds lines (relative to the mapping's indentation) after the last entry of a block mapping;
/// for a flow mapping each line must be one `key: value`.
pub fn insert_lines(src: &str, map: &Node, lines: &[String]) -> Edit {
    if map.is_flow_map() {
        let closing = map.end - 1;
        let mut text = String::new();
        for (i, line) in lines.iter().enumerate() {
            if i > 0 || !map.entries().is_empty() {
                text.push_str(", ");
            }
            text.push_str(line.trim());
        }
        return Edit {
            start: closing,
            end: closing,
            text,
        };
    }
    let indent = " ".repeat(map.column);
    let nl = newline(src);
    let body: String = lines.iter().map(|l| format!("{indent}{l}{nl}")).collect();
    let last = map
        .entries()
        .last()
        .map_or(map.end, |e| value_line_end(src, &e.value));
    if last < src.len() {
        Edit {
            start: last + 1,
            end: last + 1,
            text: body,
        }
    } else {
        Edit {
            start: last,
            end: last,
            text: format!("{nl}{}", body.strip_suffix(nl).unwrap_or(&body)),
        }
    }
}

/// The text of a block node from the start of its first line to the end of its last, moved from
/// column `from` to column `to`. Lines indented less (comments) land at `to`; blank lines are
/// kept empty; line breaks stay what they were.
pub fn reindent(block: &str, from: usize, to: usize) -> String {
    block
        .split('\n')
        .map(|line| {
            let trimmed = line.trim_start_matches(' ');
            if trimmed.trim_end_matches('\r').is_empty() {
                return trimmed.to_owned();
            }
            let indent = line.len() - trimmed.len();
            let new = if indent >= from {
                indent - from + to
            } else {
                to
            };
            format!("{}{trimmed}", " ".repeat(new))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::super::yaml::parse;
    use super::*;

    fn root(src: &str) -> Node {
        parse(src).unwrap().remove(0).root.unwrap()
    }

    #[test]
    fn scalars_keep_their_quoting_where_they_can() {
        assert_eq!(
            scalar_like(Some(ScalarStyle::Plain), "stagesync.io/v1alpha1"),
            "stagesync.io/v1alpha1"
        );
        assert_eq!(scalar_like(Some(ScalarStyle::Plain), "true"), "\"true\"");
        assert_eq!(scalar_like(Some(ScalarStyle::Plain), "a: b"), "\"a: b\"");
        assert_eq!(
            scalar_like(Some(ScalarStyle::SingleQuoted), "it's"),
            "'it''s'"
        );
        assert_eq!(scalar_like(Some(ScalarStyle::DoubleQuoted), "x"), "\"x\"");
        assert_eq!(key_text("stagesync.io/reload"), "stagesync.io/reload");
        assert!(!plain_safe("- x") && !plain_safe("") && !plain_safe("10") && !plain_safe("a,b"));
    }

    #[test]
    fn block_entries_are_removed_and_inserted_as_lines() {
        let src = "metadata:\n  annotations:\n    a: \"1\" # keep?\n    b: '2'\n  name: x\n";
        let map = root(src);
        let annotations = map.path(&["metadata", "annotations"]).unwrap();
        let removed = apply(src, &[remove_entry(src, annotations, 0).unwrap()]).unwrap();
        assert_eq!(
            removed,
            "metadata:\n  annotations:\n    b: '2'\n  name: x\n"
        );
        let inserted = apply(src, &[insert_entry(src, annotations, "c", "\"3\"")]).unwrap();
        assert_eq!(
            inserted,
            "metadata:\n  annotations:\n    a: \"1\" # keep?\n    b: '2'\n    c: \"3\"\n  name: x\n"
        );
        // At the very end of a text without a final newline.
        let src = "a: 1";
        assert_eq!(
            apply(src, &[insert_entry(src, &root(src), "b", "2")]).unwrap(),
            "a: 1\nb: 2"
        );
        // The first key of a sequence item does not start its line.
        let src = "- a: 1\n  b: 2\n";
        let item = &root(src).items()[0].clone();
        assert!(remove_entry(src, item, 0).is_none());
        assert_eq!(
            apply(src, &[remove_entry(src, item, 1).unwrap()]).unwrap(),
            "- a: 1\n"
        );
    }

    #[test]
    fn flow_entries_are_edited_inside_the_braces() {
        let src = "m: {a: 1, b: 2}\n";
        let map = root(src).get("m").unwrap().clone();
        assert_eq!(
            apply(src, &[remove_entry(src, &map, 0).unwrap()]).unwrap(),
            "m: {b: 2}\n"
        );
        assert_eq!(
            apply(src, &[remove_entry(src, &map, 1).unwrap()]).unwrap(),
            "m: {a: 1}\n"
        );
        assert_eq!(
            apply(src, &[insert_entry(src, &map, "c", "3")]).unwrap(),
            "m: {a: 1, b: 2, c: 3}\n"
        );
        let src = "m: {}\n";
        let map = root(src).get("m").unwrap().clone();
        assert_eq!(
            apply(src, &[insert_entry(src, &map, "c", "3")]).unwrap(),
            "m: {c: 3}\n"
        );
    }

    #[test]
    fn block_scalars_end_their_entry_on_their_last_line() {
        let src = "a: |\n  text\nb: 1\n";
        let map = root(src);
        assert_eq!(
            apply(src, &[remove_entry(src, &map, 0).unwrap()]).unwrap(),
            "b: 1\n"
        );
        assert_eq!(
            apply(src, &[insert_entry(src, &map, "c", "2")]).unwrap(),
            "a: |\n  text\nb: 1\nc: 2\n"
        );
    }

    #[test]
    fn inserted_lines_follow_windows_line_breaks() {
        let src = "a:\r\n  b: 1\r\nc: 2\r\n";
        let map = root(src).get("a").unwrap().clone();
        assert_eq!(
            apply(src, &[insert_entry(src, &map, "d", "3")]).unwrap(),
            "a:\r\n  b: 1\r\n  d: 3\r\nc: 2\r\n"
        );
        assert_eq!(reindent("    a: 1\r\n    b: 2", 4, 2), "  a: 1\r\n  b: 2");
    }

    #[test]
    fn overlapping_edits_are_refused_and_reindent_shifts_blocks() {
        let e = |s, e| Edit {
            start: s,
            end: e,
            text: String::new(),
        };
        assert!(apply("abcdef", &[e(0, 3), e(2, 4)]).is_err());
        assert_eq!(apply("abcdef", &[e(3, 4), e(0, 1)]).unwrap(), "bcef");
        assert_eq!(
            reindent(
                "    a: 1\n    b:\n      - x\n\n  # c\n    d: |\n      t",
                4,
                2
            ),
            "  a: 1\n  b:\n    - x\n\n  # c\n  d: |\n    t"
        );
    }
}

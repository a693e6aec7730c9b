//! The string, raw-string and character literals of a template, read by Go's rules before
//! gtmpl-ng sees the template. gtmpl-ng 1.0 decodes literals with escapes of its own that loop
//! forever (`"\u0"`, `"\x1"`), panic on a multi-byte character after an escape (`"\x1é"`), read
//! the text after an `\x`/`\u` escape as more escapes (`"\x41abcd"`), and decode escapes inside
//! raw strings (`` `\d+` `` fails, `` `C:\temp` `` gets a tab). So each literal is checked here
//! as Go's `strconv.Unquote` (and `UnquoteChar` for `'c'`) checks it, refused with Go's error
//! when Go refuses it, and otherwise handed on in a form gtmpl-ng reads exactly: a string with
//! only the escapes it decodes right (`\\ \" \n \r \t \b \f`), the other characters as they are
//! (bytes that are not UTF-8 as the engine carries them, see [`super::values`]), and a character
//! as its number. Literals gtmpl-ng already reads right are left untouched.
//!
//! The literals are found as Go's lexer finds them: inside actions (`{{` … `}}`, comments
//! skipped), a `"` starts a string that runs to the next unescaped `"`, a `` ` `` a raw string
//! to the next `` ` ``, a `'` a character to the next unescaped `'`. A multi-line raw string is
//! written on one line, so an error after it counts its line as gtmpl-ng sees it.

use std::borrow::Cow;

use super::values::bytes_to_tstr;

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

/// `text` with its literals in the form gtmpl-ng reads right, or the error Go's parser gives for
/// the first literal Go refuses.
pub(super) fn for_gtmpl<'a>(name: &str, text: &'a str) -> Result<Cow<'a, str>, String> {
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    let b = text.as_bytes();
    while let Some(open) = text[i..].find(LEFT) {
        i += open + LEFT.len();
        // A comment right after the delimiter (and its trim marker) runs to `*/`.
        let after_trim = match b.get(i..i + 2) {
            Some([b'-', c]) if c.is_ascii_whitespace() => i + 2,
            _ => i,
        };
        if text[after_trim..].starts_with("/*") {
            match text[after_trim + 2..].find("*/") {
                Some(end) => i = after_trim + 2 + end + 2,
                None => return Ok(finish(text, out, copied)),
            }
        }
        // Inside the action: literals until the right delimiter.
        while i < b.len() && !text[i..].starts_with(RIGHT) {
            let quote = b[i];
            if !matches!(quote, b'"' | b'`' | b'\'') {
                i += 1;
                continue;
            }
            let Some(len) = token_len(&text[i..]) else {
                // Unterminated: gtmpl-ng's lexer reports it.
                return Ok(finish(text, out, copied));
            };
            let token = &text[i..i + len];
            let line = text[..i].matches('\n').count() + 1;
            if let Some(replacement) = rewrite(token).map_err(|e| go_error(name, line, token, e))? {
                out.push_str(&text[copied..i]);
                out.push_str(&replacement);
                copied = i + len;
            }
            i += len;
        }
    }
    Ok(finish(text, out, copied))
}

fn finish<'a>(text: &'a str, mut out: String, copied: usize) -> Cow<'a, str> {
    if copied == 0 {
        Cow::Borrowed(text)
    } else {
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }
}

/// Length of the literal starting at `s[0]` (its quotes included), as Go's lexer ends it; `None`
/// when it does not end (a newline in a string or character, or the end of the text).
fn token_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let quote = b[0];
    if quote == b'`' {
        return s[1..].find('`').map(|end| end + 2);
    }
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' if b.get(i + 1).is_some_and(|c| *c != b'\n') => i += 2,
            b'\n' => return None,
            c if c == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Why Go refuses a literal.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    /// `strconv.Unquote`'s `invalid syntax`.
    String,
    /// `malformed character constant`.
    Char,
}

fn go_error(name: &str, line: usize, token: &str, why: Refused) -> String {
    match why {
        Refused::String => format!("template: {name}:{line}: invalid syntax"),
        Refused::Char => format!("template: {name}:{line}: malformed character constant: {token}"),
    }
}

/// The replacement of one literal token, `None` to keep it as written.
fn rewrite(token: &str) -> Result<Option<String>, Refused> {
    let inner = &token[1..token.len() - 1];
    match token.as_bytes()[0] {
        b'`' => {
            if !inner.contains(['\\', '\r']) {
                return Ok(None);
            }
            // Go keeps a raw string's text as it is, carriage returns removed.
            Ok(Some(quoted(&bytes_to_tstr(
                inner.replace('\r', "").as_bytes(),
            ))))
        }
        b'"' => {
            let bytes = unquote(inner, b'"').ok_or(Refused::String)?;
            if only_gtmpl_escapes(inner) {
                return Ok(None);
            }
            Ok(Some(quoted(&bytes_to_tstr(&bytes))))
        }
        _ => {
            let Some((rune, rest)) = unquote_char(inner, b'\'') else {
                return Err(Refused::Char);
            };
            if !rest.is_empty() {
                return Err(Refused::Char);
            }
            if !inner.contains('\\') {
                return Ok(None);
            }
            Ok(Some(rune.to_string()))
        }
    }
}

/// Whether every escape of a string literal is one gtmpl-ng decodes as Go does.
fn only_gtmpl_escapes(inner: &str) -> bool {
    let b = inner.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if !matches!(
                b.get(i + 1),
                Some(b'\\' | b'"' | b'n' | b'r' | b't' | b'b' | b'f')
            ) {
                return false;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    true
}

/// A double-quoted literal gtmpl-ng reads as `text`.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.Unquote` of a string literal's inside: its bytes, or `None` for invalid syntax.
fn unquote(mut s: &str, quote: u8) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    while !s.is_empty() {
        if s.as_bytes()[0] == quote || s.as_bytes()[0] == b'\n' {
            return None;
        }
        let (value, rest) = unquote_one(s, quote)?;
        match value {
            Unquoted::Byte(b) => out.push(b),
            Unquoted::Rune(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
        s = rest;
    }
    Some(out)
}

/// Go's `strconv.UnquoteChar` as a character constant reads it: the rune's number and the rest.
fn unquote_char(s: &str, quote: u8) -> Option<(u32, &str)> {
    if s.is_empty() || s.as_bytes()[0] == quote {
        return None;
    }
    let (value, rest) = unquote_one(s, quote)?;
    Some((
        match value {
            Unquoted::Byte(b) => u32::from(b),
            Unquoted::Rune(c) => u32::from(c),
        },
        rest,
    ))
}

enum Unquoted {
    /// `\x` and octal escapes stand for a byte.
    Byte(u8),
    Rune(char),
}

/// One character or escape of a quoted literal, as Go's `strconv.UnquoteChar`.
fn unquote_one(s: &str, quote: u8) -> Option<(Unquoted, &str)> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if c != '\\' {
        return Some((Unquoted::Rune(c), chars.as_str()));
    }
    let rest = chars.as_str();
    let e = *rest.as_bytes().first()?;
    let after = &rest[1..];
    let simple = |c: char| Some((Unquoted::Rune(c), after));
    match e {
        b'a' => simple('\u{7}'),
        b'b' => simple('\u{8}'),
        b'f' => simple('\u{c}'),
        b'n' => simple('\n'),
        b'r' => simple('\r'),
        b't' => simple('\t'),
        b'v' => simple('\u{b}'),
        b'\\' => simple('\\'),
        b'\'' | b'"' if e == quote => simple(char::from(e)),
        b'x' | b'u' | b'U' => {
            let digits = match e {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let hex = after.get(..digits)?;
            if !hex.bytes().all(|d| d.is_ascii_hexdigit()) {
                return None;
            }
            let n = u32::from_str_radix(hex, 16).ok()?;
            let value = if e == b'x' {
                Unquoted::Byte(u8::try_from(n).ok()?)
            } else {
                Unquoted::Rune(char::from_u32(n)?)
            };
            Some((value, &after[digits..]))
        }
        b'0'..=b'7' => {
            let oct = rest.get(..3)?;
            if !oct.bytes().all(|d| (b'0'..=b'7').contains(&d)) {
                return None;
            }
            let n = u32::from_str_radix(oct, 8).ok()?;
            Some((Unquoted::Byte(u8::try_from(n).ok()?), &rest[3..]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(text: &str) -> Result<String, String> {
        for_gtmpl("out", text).map(Cow::into_owned)
    }

    #[test]
    fn literals_gtmpl_reads_right_are_untouched() {
        for text in [
            "plain text with \"quotes\" and 'ticks' outside actions",
            r#"{{ "a\"b\\c\n\t" | quote }} {{ `raw` }} {{ 'a' }} {{/* "\u0" */}}"#,
            "{{- /* comment with `\\d` */ -}}",
        ] {
            assert!(
                matches!(for_gtmpl("out", text), Ok(Cow::Borrowed(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn escapes_are_read_as_go_reads_them() {
        let cases = [
            // \x and octal escapes are bytes; \u and \U runes.
            (r#"{{ "\x41bcd" }}"#, "{{ \"Abcd\" }}"),
            (r#"{{ "\101\x42\u0043\U00000044" }}"#, "{{ \"ABCD\" }}"),
            (r#"{{ "\a\v" }}"#, "{{ \"\u{7}\u{b}\" }}"),
            (r#"{{ "\u00e9t\u00e9 ok" }}"#, "{{ \"été ok\" }}"),
            // A byte that is not UTF-8 travels as the engine's escape character for it.
            (r#"{{ "\xff" }}"#, "{{ \"\u{10ffff}\" }}"),
            // Raw strings keep their backslashes; carriage returns are dropped, as in Go.
            (
                "{{ regexMatch `\\d+` .x }}",
                r#"{{ regexMatch "\\d+" .x }}"#,
            ),
            ("{{ `C:\\temp\r\nx` }}", r#"{{ "C:\\temp\nx" }}"#),
            // Characters with escapes become their number.
            (r"{{ print '\n' '\x41' '\u00e9' }}", "{{ print 10 65 233 }}"),
        ];
        for (text, want) in cases {
            assert_eq!(rewritten(text).as_deref(), Ok(want), "{text}");
        }
    }

    /// What made gtmpl-ng loop forever or panic, refused with Go's errors.
    #[test]
    fn literals_go_refuses_are_refused() {
        let invalid = "template: out:1: invalid syntax";
        for text in [
            r#"{{ "\u0" }}"#,
            r#"{{ "\x1" }}"#,
            r#"{{ "\x1é" }}"#,
            r#"{{ "\uD800" }}"#,
            r#"{{ "\U00110000" }}"#,
            r#"{{ "\400" }}"#,
            r#"{{ "\q" }}"#,
            r#"{{ "\'" }}"#,
            "{{ `ok` }}\n{{ \"\\u{a8¡1}\" }}",
        ] {
            let want = if text.contains('\n') {
                invalid.replace(":1:", ":2:")
            } else {
                invalid.to_owned()
            };
            assert_eq!(rewritten(text), Err(want), "{text}");
        }
        assert_eq!(
            rewritten(r"{{ '\u12' }}"),
            Err(r"template: out:1: malformed character constant: '\u12'".into())
        );
        assert_eq!(
            rewritten("{{ 'ab' }}"),
            Err("template: out:1: malformed character constant: 'ab'".into())
        );
        assert!(rewritten("{{ '' }}").is_err());
    }

    #[test]
    fn unterminated_literals_are_left_to_the_lexer() {
        for text in [r#"{{ "abc }}"#, "{{ `abc }}", "{{ 'a }}", "{{ \"a\nb\" }}"] {
            assert!(rewritten(text).is_ok(), "{text}");
        }
    }
}

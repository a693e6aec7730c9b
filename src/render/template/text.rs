//! sprig's word functions, from the Go libraries sprig calls: `title` (Go's `strings.Title`),
//! `untitle abbrev abbrevboth initials swapcase wrap wrapWith` (Masterminds/goutils),
//! `snakecase camelcase kebabcase` (huandu/xstrings v1.5), `plural`, `trimall`, `toStrings`,
//! `hello`.
//!
//! Letter classes are Go's `unicode` ones (general categories), and case mappings Go's simple
//! one-character mappings. goutils' `initials` and `abbrev` work on bytes, as Go does.

use gtmpl_ng::{Func, FuncError, Value};
use unicode_general_category::{GeneralCategory as Gc, get_general_category};

use super::values::{
    arity, bytes_to_tstr, escaped_byte, int_arg, str_arg, strslice, tstr_to_bytes,
};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("title", title),
    ("untitle", untitle),
    ("abbrev", abbrev),
    ("abbrevboth", abbrevboth),
    ("initials", initials),
    ("swapcase", swapcase),
    ("wrap", wrap),
    ("wrapWith", wrap_with),
    ("snakecase", snakecase),
    ("camelcase", camelcase),
    ("kebabcase", kebabcase),
    ("plural", plural),
    ("trimall", trimall),
    ("toStrings", to_strings),
    ("hello", hello),
];

// ---------------------------------------------------------------------------------------------
// Go's unicode package, per character.

fn category(c: char) -> Gc {
    get_general_category(c)
}

pub(super) fn is_upper(c: char) -> bool {
    category(c) == Gc::UppercaseLetter
}

pub(super) fn is_lower(c: char) -> bool {
    category(c) == Gc::LowercaseLetter
}

fn is_title(c: char) -> bool {
    category(c) == Gc::TitlecaseLetter
}

fn is_letter(c: char) -> bool {
    matches!(
        category(c),
        Gc::UppercaseLetter
            | Gc::LowercaseLetter
            | Gc::TitlecaseLetter
            | Gc::ModifierLetter
            | Gc::OtherLetter
    )
}

fn is_number(c: char) -> bool {
    matches!(
        category(c),
        Gc::DecimalNumber | Gc::LetterNumber | Gc::OtherNumber
    )
}

fn is_punct(c: char) -> bool {
    matches!(
        category(c),
        Gc::ConnectorPunctuation
            | Gc::DashPunctuation
            | Gc::OpenPunctuation
            | Gc::ClosePunctuation
            | Gc::InitialPunctuation
            | Gc::FinalPunctuation
            | Gc::OtherPunctuation
    )
}

/// Go's `unicode.IsSpace`: the same set as Unicode White_Space.
fn is_space(c: char) -> bool {
    c.is_whitespace()
}

fn single(mut it: impl Iterator<Item = char>, c: char) -> char {
    match (it.next(), it.next()) {
        (Some(one), None) => one,
        _ => c,
    }
}

/// Go's `unicode.ToUpper`: the simple mapping; a character whose full mapping is several
/// characters is kept.
pub(super) fn to_upper(c: char) -> char {
    if escaped_byte(c).is_some() {
        return c;
    }
    single(c.to_uppercase(), c)
}

/// Go's `unicode.ToLower`.
pub(super) fn to_lower(c: char) -> char {
    if escaped_byte(c).is_some() {
        return c;
    }
    if c == '\u{130}' {
        return 'i';
    }
    single(c.to_lowercase(), c)
}

/// Go's `unicode.ToTitle`: the upper case, except the digraphs that have a title case of their
/// own and Georgian letters, whose title case is themselves.
fn to_title(c: char) -> char {
    match c {
        '\u{1C4}'..='\u{1C6}' => '\u{1C5}',
        '\u{1C7}'..='\u{1C9}' => '\u{1C8}',
        '\u{1CA}'..='\u{1CC}' => '\u{1CB}',
        '\u{1F1}'..='\u{1F3}' => '\u{1F2}',
        '\u{10D0}'..='\u{10FA}' | '\u{10FD}'..='\u{10FF}' => c,
        _ => to_upper(c),
    }
}

// ---------------------------------------------------------------------------------------------
// strings.Title and goutils.

/// Go's `strings.Title`: each letter that starts a word is mapped to its title case; words are
/// separated by anything but letters, digits and `_` (for ASCII), or by spaces.
fn title(args: &[Value]) -> Result<Value, FuncError> {
    arity("title", args, 1)?;
    let s = str_arg("title", &args[0])?;
    let is_separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if is_letter(c) || is_number(c) {
            false
        } else {
            is_space(c)
        }
    };
    let mut prev = ' ';
    let out: String = s
        .chars()
        .map(|c| {
            let mapped = if is_separator(prev) { to_title(c) } else { c };
            prev = c;
            mapped
        })
        .collect();
    Ok(Value::String(out))
}

/// goutils' `Uncapitalize`: the first letter of each space-separated word lowered.
fn untitle(args: &[Value]) -> Result<Value, FuncError> {
    arity("untitle", args, 1)?;
    let s = str_arg("untitle", &args[0])?;
    let mut next = true;
    let out: String = s
        .chars()
        .map(|c| {
            if is_space(c) {
                next = true;
                c
            } else if next {
                next = false;
                to_lower(c)
            } else {
                c
            }
        })
        .collect();
    Ok(Value::String(out))
}

/// goutils' `SwapCase`: upper and title case to lower; lower case to title case at the start of
/// a word, else to upper case.
fn swapcase(args: &[Value]) -> Result<Value, FuncError> {
    arity("swapcase", args, 1)?;
    let s = str_arg("swapcase", &args[0])?;
    let mut at_start = true;
    let out: String = s
        .chars()
        .map(|c| {
            if is_upper(c) || is_title(c) {
                at_start = false;
                to_lower(c)
            } else if is_lower(c) {
                let mapped = if at_start { to_title(c) } else { to_upper(c) };
                at_start = false;
                mapped
            } else {
                at_start = is_space(c);
                c
            }
        })
        .collect();
    Ok(Value::String(out))
}

/// goutils' `Initials`: the first byte of each space-separated word. It reads bytes, so the
/// first byte of a multi-byte character comes out as the character of that number, as in Go.
fn initials(args: &[Value]) -> Result<Value, FuncError> {
    arity("initials", args, 1)?;
    let bytes = tstr_to_bytes(str_arg("initials", &args[0])?);
    let mut gap = true;
    let mut out = String::new();
    for b in bytes {
        let c = char::from(b);
        if is_space(c) {
            gap = true;
        } else if gap {
            out.push(c);
            gap = false;
        }
    }
    Ok(Value::String(out))
}

/// goutils' `AbbreviateFull` over bytes: `None` for its errors (sprig then renders "").
fn abbreviate(s: &[u8], offset: i64, width: i64) -> Option<Vec<u8>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    if width < 4 {
        return None;
    }
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    if len <= width {
        return Some(s.to_vec());
    }
    let mut offset = offset.min(len);
    if len - offset < width - 3 {
        offset = len - (width - 3);
    }
    let at = |i: i64| usize::try_from(i).unwrap_or(0);
    if offset <= 4 {
        let mut out = s[..at(width - 3)].to_vec();
        out.extend_from_slice(b"...");
        return Some(out);
    }
    if width < 7 {
        return None;
    }
    let mut out = b"...".to_vec();
    if offset + width - 3 < len {
        out.extend(abbreviate(&s[at(offset)..], 0, width - 3)?);
    } else {
        out.extend_from_slice(&s[at(len - (width - 3))..]);
    }
    Some(out)
}

fn abbrev(args: &[Value]) -> Result<Value, FuncError> {
    arity("abbrev", args, 2)?;
    let width = int_arg("abbrev", &args[0])?;
    let s = str_arg("abbrev", &args[1])?;
    if width < 4 {
        return Ok(Value::from(s));
    }
    let out = abbreviate(&tstr_to_bytes(s), 0, width).unwrap_or_default();
    Ok(Value::String(bytes_to_tstr(&out)))
}

fn abbrevboth(args: &[Value]) -> Result<Value, FuncError> {
    arity("abbrevboth", args, 3)?;
    let left = int_arg("abbrevboth", &args[0])?;
    let right = int_arg("abbrevboth", &args[1])?;
    let s = str_arg("abbrevboth", &args[2])?;
    if right < 4 || (left > 0 && right < 7) {
        return Ok(Value::from(s));
    }
    let out = abbreviate(&tstr_to_bytes(s), left, right).unwrap_or_default();
    Ok(Value::String(bytes_to_tstr(&out)))
}

/// goutils' `WrapCustom` over bytes: break at the last space within `width` columns; a longer
/// word is cut (`long_words`) or left whole up to the next space.
fn wrap_custom(s: &[u8], width: i64, newline: &[u8], long_words: bool) -> Vec<u8> {
    if s.is_empty() {
        return Vec::new();
    }
    let newline: &[u8] = if newline.is_empty() { b"\n" } else { newline };
    let width = usize::try_from(width.max(1)).unwrap_or(usize::MAX);
    let len = s.len();
    let mut offset = 0;
    let mut out = Vec::with_capacity(len + len / width.max(1));
    while len - offset > width {
        if s[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (width + offset + 1).min(len);
        if let Some(space) = s[offset..end].iter().rposition(|&b| b == b' ') {
            let at = offset + space;
            out.extend_from_slice(&s[offset..at]);
            out.extend_from_slice(newline);
            offset = at + 1;
        } else if long_words {
            out.extend_from_slice(&s[offset..offset + width]);
            out.extend_from_slice(newline);
            offset += width;
        } else {
            let end = width + offset;
            match s[end..].iter().position(|&b| b == b' ') {
                None => {
                    out.extend_from_slice(&s[offset..]);
                    offset = len;
                }
                Some(i) => {
                    out.extend_from_slice(&s[offset..end + i]);
                    out.extend_from_slice(newline);
                    offset = end + i + 1;
                }
            }
        }
    }
    out.extend_from_slice(&s[offset..]);
    out
}

fn wrap(args: &[Value]) -> Result<Value, FuncError> {
    arity("wrap", args, 2)?;
    let width = int_arg("wrap", &args[0])?;
    let s = tstr_to_bytes(str_arg("wrap", &args[1])?);
    Ok(Value::String(bytes_to_tstr(&wrap_custom(
        &s, width, b"", false,
    ))))
}

fn wrap_with(args: &[Value]) -> Result<Value, FuncError> {
    arity("wrapWith", args, 3)?;
    let width = int_arg("wrapWith", &args[0])?;
    let sep = tstr_to_bytes(str_arg("wrapWith", &args[1])?);
    let s = tstr_to_bytes(str_arg("wrapWith", &args[2])?);
    Ok(Value::String(bytes_to_tstr(&wrap_custom(
        &s, width, &sep, true,
    ))))
}

// ---------------------------------------------------------------------------------------------
// huandu/xstrings v1.5.

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || is_space(c)
}

/// xstrings' `isAlphabet`: a letter that is not a CJK ideograph.
fn is_alphabet(c: char) -> bool {
    is_letter(c)
        && !matches!(c, '\u{4E00}'..='\u{9FCC}' | '\u{3400}'..='\u{4D85}' | '\u{20000}'..='\u{2B81D}')
}

/// xstrings' `toCamelCase`: connectors dropped and the next letter upper-cased; a run of
/// connectors keeps all but the last; a word written in capitals is lowered after its first
/// letter.
fn to_camel(s: &str, big: bool) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() && is_connector(chars[i]) {
        out.push(chars[i]);
        i += 1;
    }
    if i == chars.len() {
        return out;
    }
    let first = chars[i];
    let mut first_upper = is_upper(first);
    let mut r0 = if big {
        to_upper(first)
    } else {
        to_lower(first)
    };
    i += 1;
    if i == chars.len() {
        out.push(r0);
        return out;
    }
    while i < chars.len() {
        let r1 = r0;
        r0 = chars[i];
        i += 1;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            first_upper = is_upper(r0);
            r0 = to_upper(r0);
        } else {
            if first_upper {
                if is_upper(r0) {
                    r0 = to_lower(r0);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
    }
    if first_upper && !big {
        r0 = to_lower(r0);
    }
    out.push(r0);
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

/// xstrings' `nextWord`: the type and length (in characters) of the word at the start of `s`.
fn next_word(s: &[char]) -> (Word, usize) {
    let Some(&r) = s.first() else {
        return (Word::Invalid, 0);
    };
    if escaped_byte(r).is_some() {
        return (Word::Invalid, 1);
    }
    let run = |from: usize, keep: &dyn Fn(char) -> bool| {
        s[from..].iter().take_while(|&&c| keep(c)).count() + from
    };
    if is_connector(r) {
        return (Word::Connector, run(1, &is_connector));
    }
    if is_punct(r) {
        return (Word::Punct, run(1, &is_punct));
    }
    if is_upper(r) {
        let Some(&next) = s.get(1) else {
            return (Word::Upper, 1);
        };
        if is_upper(next) {
            let end = run(1, &is_upper);
            // "HTTPStatus": the last capital starts the next word when a letter follows.
            if end < s.len() && is_alphabet(s[end]) {
                return (Word::Upper, end - 1);
            }
            return (Word::Upper, end);
        }
        if is_alphabet(next) {
            return (Word::Upper, run(1, &|c| is_alphabet(c) && !is_upper(c)));
        }
        return (Word::Upper, 1);
    }
    if is_alphabet(r) {
        return (Word::Alphabet, run(1, &|c| is_alphabet(c) && !is_upper(c)));
    }
    if is_number(r) {
        return (Word::Number, run(1, &is_number));
    }
    let other = |c: char| {
        !(is_connector(c) || is_alphabet(c) || is_number(c) || is_punct(c))
            && escaped_byte(c).is_none()
    };
    (Word::Other, run(1, &other))
}

/// xstrings' `toLower` of one word: capitals lowered and connectors replaced, in capital and
/// connector words only.
fn push_lower(out: &mut String, wt: Word, word: &[char], connector: char) {
    if wt != Word::Upper && wt != Word::Connector {
        out.extend(word);
        return;
    }
    for &c in word {
        if is_connector(c) {
            out.push(connector);
        } else if is_upper(c) {
            out.push(to_lower(c));
        } else {
            out.push(c);
        }
    }
}

/// xstrings' `camelCaseToLowerCase`, the algorithm of `ToSnakeCase` and `ToKebabCase`.
fn camel_to_lower(s: &str, connector: char) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    let mut pos = 0;
    let take = |pos: &mut usize| {
        let (wt, n) = next_word(&chars[*pos..]);
        let word = &chars[*pos..*pos + n];
        *pos += n;
        (wt, word)
    };
    let (mut wt, mut word) = take(&mut pos);
    while pos < chars.len() {
        if wt != Word::Connector {
            push_lower(&mut out, wt, word, connector);
        }
        let prev = wt;
        let last = word;
        (wt, word) = take(&mut pos);
        match prev {
            Word::Number => {
                while wt == Word::Alphabet || wt == Word::Number {
                    push_lower(&mut out, wt, word, connector);
                    (wt, word) = take(&mut pos);
                }
                if !matches!(wt, Word::Invalid | Word::Punct | Word::Connector) {
                    out.push(connector);
                }
            }
            Word::Connector => push_lower(&mut out, prev, last, connector),
            Word::Punct => {}
            _ => {
                if wt != Word::Number {
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(connector);
                    }
                    continue;
                }
                if pos == chars.len() {
                    continue;
                }
                let number = word;
                (wt, word) = take(&mut pos);
                // A number is part of the word before it ("Bld4Floor" → "bld4_floor")…
                if wt != Word::Alphabet {
                    push_lower(&mut out, Word::Number, number, connector);
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(connector);
                    }
                    continue;
                }
                // …unless lower-case letters follow it ("HTTP2xx" → "http_2xx").
                out.push(connector);
                push_lower(&mut out, Word::Number, number, connector);
                while wt == Word::Alphabet || wt == Word::Number {
                    push_lower(&mut out, wt, word, connector);
                    (wt, word) = take(&mut pos);
                }
                if !matches!(wt, Word::Invalid | Word::Connector | Word::Punct) {
                    out.push(connector);
                }
            }
        }
    }
    push_lower(&mut out, wt, word, connector);
    out
}

fn snakecase(args: &[Value]) -> Result<Value, FuncError> {
    arity("snakecase", args, 1)?;
    Ok(Value::String(camel_to_lower(
        str_arg("snakecase", &args[0])?,
        '_',
    )))
}

fn kebabcase(args: &[Value]) -> Result<Value, FuncError> {
    arity("kebabcase", args, 1)?;
    Ok(Value::String(camel_to_lower(
        str_arg("kebabcase", &args[0])?,
        '-',
    )))
}

/// sprig's `camelcase` is xstrings' `ToPascalCase`.
fn camelcase(args: &[Value]) -> Result<Value, FuncError> {
    arity("camelcase", args, 1)?;
    Ok(Value::String(to_camel(
        str_arg("camelcase", &args[0])?,
        true,
    )))
}

// ---------------------------------------------------------------------------------------------
// The rest.

fn plural(args: &[Value]) -> Result<Value, FuncError> {
    arity("plural", args, 3)?;
    let one = str_arg("plural", &args[0])?;
    let many = str_arg("plural", &args[1])?;
    let count = int_arg("plural", &args[2])?;
    Ok(Value::from(if count == 1 { one } else { many }))
}

/// sprig's `trimall`, the older spelling of `trimAll`.
fn trimall(args: &[Value]) -> Result<Value, FuncError> {
    arity("trimall", args, 2)?;
    let cutset: Vec<char> = str_arg("trimall", &args[0])?.chars().collect();
    let s = str_arg("trimall", &args[1])?;
    Ok(Value::from(s.trim_matches(cutset.as_slice())))
}

fn to_strings(args: &[Value]) -> Result<Value, FuncError> {
    arity("toStrings", args, 1)?;
    Ok(Value::Array(
        strslice(&args[0]).into_iter().map(Value::String).collect(),
    ))
}

fn hello(args: &[Value]) -> Result<Value, FuncError> {
    arity("hello", args, 0)?;
    Ok(Value::from("Hello!"))
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    /// Each expected output is what Go with ESO's sprig fork (goutils v1.1.1, xstrings v1.5.0)
    /// renders for the template.
    #[test]
    fn words_as_go() {
        let d: &[(&str, &str)] = &[];
        check(&[
            // strings.Title("hello wide-world o'neil ǆ_x")
            (
                r#"{{ title "hello wide-world o'neil ǆx ábc 1st" }}"#,
                d,
                "Hello Wide-World O'Neil ǅx Ábc 1st",
            ),
            (r#"{{ untitle "Hello World ÀB" }}"#, d, "hello world àB"),
            (r#"{{ swapcase "Hello wORLD ab" }}"#, d, "hELLO World AB"),
            (r#"{{ initials "First Try  here" }}"#, d, "FTh"),
            // Initials reads bytes: "é" starts with 0xC3, printed as 'Ã'.
            (r#"{{ initials "élan vital" }}"#, d, "Ãv"),
            (r#"{{ abbrev 5 "hello world" }}"#, d, "he..."),
            (r#"{{ abbrev 3 "hello world" }}"#, d, "hello world"),
            (r#"{{ abbrev 20 "hello world" }}"#, d, "hello world"),
            (r#"{{ abbrevboth 5 10 "1234 5678 9123" }}"#, d, "...5678..."),
            (
                r#"{{ abbrevboth 0 10 "abcdefghijklmno" }}"#,
                d,
                "abcdefg...",
            ),
            (
                r#"{{ abbrevboth 10 10 "abcdefghijklmno" }}"#,
                d,
                "...ijklmno",
            ),
            (
                r#"{{ wrap 10 "The quick brown fox jumps over" }}"#,
                d,
                "The quick\nbrown fox\njumps over",
            ),
            (
                r#"{{ wrap 5 "averyveryverylongword here" }}"#,
                d,
                "averyveryverylongword\nhere",
            ),
            (r#"{{ wrapWith 5 "\t" "Hello World" }}"#, d, "Hello\tWorld"),
            (r#"{{ wrapWith 4 "|" "abcdefghij" }}"#, d, "abcd|efgh|ij"),
            (
                r#"{{ plural "one anchovy" "many anchovies" 1 }}|{{ plural "a" "b" 2 }}"#,
                d,
                "one anchovy|b",
            ),
            (r#"{{ trimall "$" "$5.00$" }}"#, d, "5.00"),
            (
                r#"{{ list "a" 1 nil | toStrings | toJson }}"#,
                d,
                r#"["a","1"]"#,
            ),
            ("{{ hello }}", d, "Hello!"),
        ]);
    }

    /// `{{ snakecase s }}|{{ kebabcase s }}|{{ camelcase s }}` as Go renders it with xstrings
    /// v1.5.0 (sprig's `camelcase` is its `ToPascalCase`).
    #[test]
    fn cases_as_xstrings() {
        let d: &[(&str, &str)] = &[];
        let cases: &[(&str, &str, &str, &str)] = &[
            ("FirstName", "first_name", "first-name", "FirstName"),
            ("HTTPServer", "http_server", "http-server", "Httpserver"),
            ("NoHTTPS", "no_https", "no-https", "NoHTTPS"),
            ("GO_PATH", "go_path", "go-path", "GoPath"),
            ("GO PATH", "go_path", "go-path", "GoPath"),
            ("GO-PATH", "go_path", "go-path", "GoPath"),
            ("http2xx", "http_2xx", "http-2xx", "Http2xx"),
            ("HTTP20xOK", "http_20x_ok", "http-20x-ok", "Http20xOK"),
            (
                "Duration2m3s",
                "duration_2m3s",
                "duration-2m3s",
                "Duration2m3s",
            ),
            (
                "Bld4Floor3rd",
                "bld4_floor_3rd",
                "bld4-floor-3rd",
                "Bld4Floor3rd",
            ),
            ("some_words", "some_words", "some-words", "SomeWords"),
            (
                "_complex__case_",
                "_complex__case_",
                "-complex--case-",
                "_Complex_Case_",
            ),
            ("some words", "some_words", "some-words", "SomeWords"),
            (
                "GOLANG_IS_GREAT",
                "golang_is_great",
                "golang-is-great",
                "GolangIsGreat",
            ),
            ("a", "a", "a", "A"),
            ("", "", "", ""),
            ("hello.world", "hello.world", "hello.world", "Hello.world"),
            ("Héllo Wörld", "héllo_wörld", "héllo-wörld", "HélloWörld"),
            ("x-Y_z 9a", "x_y_z_9a", "x-y-z-9a", "XYZ9a"),
            ("ABC", "abc", "abc", "Abc"),
            ("aBC", "a_bc", "a-bc", "ABC"),
        ];
        for (input, snake, kebab, pascal) in cases {
            let tpl = format!(
                "{{{{ snakecase {input:?} }}}}|{{{{ kebabcase {input:?} }}}}|{{{{ camelcase {input:?} }}}}"
            );
            let want = format!("{snake}|{kebab}|{pascal}");
            check(&[(&tpl, d, &want)]);
        }
    }
}

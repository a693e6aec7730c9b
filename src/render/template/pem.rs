//! ESO's PEM functions (`pem.go`): `filterPEM`, with Go's `encoding/pem` reading and writing.

use std::fmt::Write as _;

use base64::Engine as _;
use gtmpl_ng::{Func, FuncError, Value};

use super::encoding::GO_STD_B64;
use super::values::{arity, generic, str_arg, tstr_to_bytes};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[("filterPEM", filter_pem)];

// ---------------------------------------------------------------------------------------------
// PEM, as Go's encoding/pem reads and writes it.

pub(super) struct PemBlock {
    pub(super) type_: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) bytes: Vec<u8>,
}

/// Go's `getLine`: one line without its ending and trailing spaces/tabs, and the rest.
fn pem_line(data: &[u8]) -> (&[u8], &[u8]) {
    let (line, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let line = &data[..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line, &data[i + 1..])
        }
        None => (data, &data[data.len()..]),
    };
    let end = line
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    (&line[..end], rest)
}

pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Go's `pem.Decode`: the first well-formed block anywhere in `data`, and what follows it;
/// `None` and all of `data` when there is none.
pub(super) fn pem_decode(data: &[u8]) -> (Option<PemBlock>, &[u8]) {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const DASHES: &[u8] = b"-----";
    let mut rest = data;
    loop {
        // BEGIN counts at the very start or at the start of a line.
        let after = if let Some(after) = rest.strip_prefix(BEGIN) {
            after
        } else if let Some(i) = find(rest, b"\n-----BEGIN ") {
            &rest[i + 1 + BEGIN.len()..]
        } else {
            return (None, data);
        };
        let (type_line, mut body) = pem_line(after);
        // A failed candidate is skipped; the search resumes after its BEGIN line.
        rest = body;
        let Some(type_bytes) = type_line.strip_suffix(DASHES) else {
            continue;
        };
        let type_ = String::from_utf8_lossy(type_bytes).into_owned();

        let mut headers = Vec::new();
        loop {
            if body.is_empty() {
                break;
            }
            let (line, next) = pem_line(body);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                break;
            };
            let key = String::from_utf8_lossy(line[..colon].trim_ascii()).into_owned();
            let val = String::from_utf8_lossy(line[colon + 1..].trim_ascii()).into_owned();
            headers.push((key, val));
            body = next;
        }

        // The END line may follow the BEGIN line directly when there is no body.
        let (end_index, end_trailer_index) = if headers.is_empty() && body.starts_with(b"-----END ")
        {
            (0, b"-----END ".len())
        } else if let Some(i) = find(body, b"\n-----END ") {
            (i, i + b"\n-----END ".len())
        } else {
            continue;
        };
        let trailer = &body[end_trailer_index..];
        let (end_line, after_end) = pem_line(trailer);
        let Some(end_type) = end_line.strip_suffix(DASHES) else {
            continue;
        };
        if end_type != type_bytes {
            continue;
        }
        let b64: Vec<u8> = body[..end_index]
            .iter()
            .copied()
            .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .collect();
        let Ok(bytes) = GO_STD_B64.decode(&b64) else {
            continue;
        };
        return (
            Some(PemBlock {
                type_,
                headers,
                bytes,
            }),
            after_end,
        );
    }
}

/// Go's `pem.Encode`: headers with `Proc-Type` first then sorted, base64 in 64-column lines.
pub(super) fn pem_encode(block: &PemBlock) -> String {
    let mut out = format!("-----BEGIN {}-----\n", block.type_);
    if !block.headers.is_empty() {
        let mut headers = block.headers.clone();
        headers.sort_by(|a, b| (a.0 != "Proc-Type", &a.0).cmp(&(b.0 != "Proc-Type", &b.0)));
        // Go keeps the last value of a repeated header (its map overwrites).
        headers.reverse();
        headers.dedup_by(|a, b| a.0 == b.0);
        headers.reverse();
        for (k, v) in headers {
            let _ = writeln!(out, "{k}: {v}");
        }
        out.push('\n');
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(&block.bytes);
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    let _ = writeln!(out, "-----END {}-----", block.type_);
    out
}

fn filter_pem(args: &[Value]) -> Result<Value, FuncError> {
    arity("filterPEM", args, 2)?;
    let want = str_arg("filterPEM", &args[0])?;
    let input = tstr_to_bytes(str_arg("filterPEM", &args[1])?);
    // ESO's trimJunk: drop anything before the first BEGIN.
    let start = find(&input, b"-----BEGIN").unwrap_or(0);
    let mut data: &[u8] = &input[start..];
    let mut blocks = String::new();
    let rest = loop {
        let (block, rest) = pem_decode(data);
        data = rest;
        let Some(block) = block else {
            break rest;
        };
        // Go's strings.EqualFold: Unicode simple case folding; lowercasing both is the same for
        // PEM type names.
        if block.type_.to_lowercase() == want.to_lowercase() {
            blocks.push_str(&pem_encode(&block));
        }
    };
    if blocks.is_empty() && !rest.is_empty() {
        return Err(generic("error filtering pem: found junk"));
    }
    Ok(Value::String(blocks))
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    const BODY_76: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\nOTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiYw==";
    const BODY_64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\nMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5f\nYGFiYw==";

    #[test]
    fn filter_pem_reencodes_matching_blocks() {
        let bundle = format!(
            "subject=CN=x\n-----BEGIN CERTIFICATE-----\n{BODY_76}\n-----END CERTIFICATE-----\n\
             -----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n\
             -----BEGIN CERTIFICATE-----\r\naGk=\r\n-----END CERTIFICATE-----\r\n"
        );
        let d: &[(&str, &str)] = &[("pem", &bundle)];
        check(&[
            (
                r#"{{ .pem | filterPEM "CERTIFICATE" }}"#,
                d,
                &format!(
                    "-----BEGIN CERTIFICATE-----\n{BODY_64}\n-----END CERTIFICATE-----\n\
                     -----BEGIN CERTIFICATE-----\naGk=\n-----END CERTIFICATE-----\n"
                ),
            ),
            // Go compares the type with strings.EqualFold.
            (
                r#"{{ .pem | filterPEM "private key" }}"#,
                d,
                "-----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n",
            ),
            // No block of that type and nothing left over: empty, no error.
            (r#"{{ .pem | filterPEM "EC PRIVATE KEY" }}"#, d, ""),
        ]);
        let err = render(r#"{{ .v | filterPEM "CERTIFICATE" }}"#, &[("v", "garbage")]).unwrap_err();
        assert!(
            err.to_string().contains("error filtering pem: found junk"),
            "{err}"
        );
    }
}

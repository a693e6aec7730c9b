//! sprig's encodings: base64, base32 and hex, with Go's decoders (an invalid input renders the
//! decoder's error text, as sprig returns it in place of the value).

use base64::Engine as _;
use gtmpl_ng::{Func, FuncError, Value};

use super::values::{arity, bytes_to_tstr, str_arg, tstr_to_bytes};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("b64enc", b64enc),
    ("b64dec", b64dec),
    ("b32enc", b32enc),
    ("b32dec", b32dec),
    ("hexdec", hexdec),
];

fn b64enc(args: &[Value]) -> Result<Value, FuncError> {
    arity("b64enc", args, 1)?;
    let bytes = tstr_to_bytes(str_arg("b64enc", &args[0])?);
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(bytes),
    ))
}

/// Go's `base64.StdEncoding`: padding required, CR and LF skipped, trailing bits not checked.
pub(super) const GO_STD_B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
);

fn b64dec(args: &[Value]) -> Result<Value, FuncError> {
    arity("b64dec", args, 1)?;
    let input = tstr_to_bytes(str_arg("b64dec", &args[0])?);
    let text = match go_b64_decode(&input) {
        Ok(bytes) => bytes_to_tstr(&bytes),
        // sprig renders the decoder's error text in place of the value.
        Err(at) => format!("illegal base64 data at input byte {at}"),
    };
    Ok(Value::String(text))
}

/// Go's `base64.StdEncoding.DecodeString`: the bytes, or the offset its error names.
pub(super) fn go_b64_decode(input: &[u8]) -> Result<Vec<u8>, usize> {
    let stripped: Vec<u8> = input
        .iter()
        .copied()
        .filter(|b| !matches!(b, b'\r' | b'\n'))
        .collect();
    GO_STD_B64
        .decode(&stripped)
        .map_err(|_| b64_error_offset(input))
}

/// Where Go's decoder reports a failure: the first byte outside the alphabet, else the start of
/// the incomplete final group (offsets count the skipped CR/LF, as Go's do).
fn b64_error_offset(input: &[u8]) -> usize {
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    if let Some(i) = input
        .iter()
        .position(|&b| !alphabet(b) && !matches!(b, b'=' | b'\r' | b'\n'))
    {
        return i;
    }
    let mut group = 0;
    let mut start = 0;
    for (i, &b) in input.iter().enumerate() {
        if matches!(b, b'\r' | b'\n') {
            continue;
        }
        if group == 0 {
            start = i;
        }
        group = (group + 1) % 4;
    }
    if group == 0 { input.len() } else { start }
}

const B32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn b32enc(args: &[Value]) -> Result<Value, FuncError> {
    arity("b32enc", args, 1)?;
    let bytes = tstr_to_bytes(str_arg("b32enc", &args[0])?);
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = buf.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        // 5 input bytes are 8 output characters; a short chunk gives fewer, then padding.
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                let idx = usize::try_from((n >> (35 - 5 * i)) & 0x1f).unwrap_or(0);
                out.push(char::from(B32_ALPHABET[idx]));
            } else {
                out.push('=');
            }
        }
    }
    Ok(Value::String(out))
}

/// Go's `base32.StdEncoding.DecodeString`, or sprig's error text in place of the value.
fn b32dec(args: &[Value]) -> Result<Value, FuncError> {
    arity("b32dec", args, 1)?;
    let input = tstr_to_bytes(str_arg("b32dec", &args[0])?);
    let symbols: Vec<(usize, u8)> = input
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, b)| !matches!(b, b'\r' | b'\n'))
        .collect();
    let fail = |at: usize| {
        Ok(Value::String(format!(
            "illegal base32 data at input byte {at}"
        )))
    };
    if let Some(&(at, _)) = symbols
        .iter()
        .find(|(_, b)| *b != b'=' && !B32_ALPHABET.contains(b))
    {
        return fail(at);
    }
    if !symbols.len().is_multiple_of(8) {
        return fail(
            symbols
                .get(symbols.len() / 8 * 8)
                .map_or(input.len(), |s| s.0),
        );
    }
    let mut out = Vec::with_capacity(symbols.len() / 8 * 5);
    for (g, group) in symbols.chunks(8).enumerate() {
        let data: Vec<u8> = group
            .iter()
            .map(|s| s.1)
            .take_while(|&b| b != b'=')
            .collect();
        let pad = 8 - data.len();
        let last = g + 1 == symbols.len() / 8;
        // Only the last group may be padded, and only to a length base32 can produce, with
        // nothing but padding after the first '='.
        if (pad > 0 && !last)
            || !matches!(pad, 0 | 1 | 3 | 4 | 6)
            || group[data.len()..].iter().any(|s| s.1 != b'=')
        {
            return fail(group[data.len().min(7)].0);
        }
        let n = data.iter().fold(0u64, |acc, b| {
            let v = B32_ALPHABET.iter().position(|a| a == b).unwrap_or(0);
            (acc << 5) | u64::try_from(v).unwrap_or(0)
        }) << (5 * pad);
        let bytes = n.to_be_bytes();
        let len = match pad {
            0 => 5,
            1 => 4,
            3 => 3,
            4 => 2,
            _ => 1,
        };
        out.extend_from_slice(&bytes[3..3 + len]);
    }
    Ok(Value::String(bytes_to_tstr(&out)))
}

/// Go's `hex.DecodeString`, or sprig's error text in place of the value.
fn hexdec(args: &[Value]) -> Result<Value, FuncError> {
    arity("hexdec", args, 1)?;
    let input = tstr_to_bytes(str_arg("hexdec", &args[0])?);
    let invalid = |b: u8| {
        // Go prints the byte as a rune with %#U: the character is shown when printable.
        let c = char::from(b);
        let printable = c.is_ascii_graphic() || c == ' ' || (b >= 0xa1 && b != 0xad);
        let text = if printable {
            format!("encoding/hex: invalid byte: U+{:04X} '{c}'", u32::from(b))
        } else {
            format!("encoding/hex: invalid byte: U+{:04X}", u32::from(b))
        };
        Ok(Value::String(text))
    };
    let nibble = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(input.len() / 2);
    for pair in input.chunks(2) {
        let Some(hi) = nibble(pair[0]) else {
            return invalid(pair[0]);
        };
        let Some(&lo_byte) = pair.get(1) else {
            return Ok(Value::from("encoding/hex: odd length hex string"));
        };
        let Some(lo) = nibble(lo_byte) else {
            return invalid(lo_byte);
        };
        out.push((hi << 4) | lo);
    }
    Ok(Value::String(bytes_to_tstr(&out)))
}

#[cfg(test)]
mod tests {
    use crate::render::template::testing::*;

    #[test]
    fn base64_functions() {
        let d: &[(&str, &str)] = &[("v", "hello"), ("nl", "aGVs\nbG8=")];
        check(&[
            ("{{ .v | b64enc }}", d, "aGVsbG8="),
            (r#"{{ "aGVsbG8=" | b64dec }}"#, d, "hello"),
            // Go's decoder skips CR and LF.
            ("{{ .nl | b64dec }}", d, "hello"),
            // Not strict: non-zero trailing bits are accepted.
            (r#"{{ "aGVsbG9=" | b64dec }}"#, d, "hello"),
            // sprig returns the decoder's error text. Go reports the invalid byte's offset, and
            // for a missing pad the start of the incomplete quantum (si - j = 7 - 3).
            (
                r#"{{ "a$bc" | b64dec }}"#,
                d,
                "illegal base64 data at input byte 1",
            ),
            (
                r#"{{ "aGVsbG8" | b64dec }}"#,
                d,
                "illegal base64 data at input byte 4",
            ),
        ]);
    }

    #[test]
    fn base32_and_hex() {
        let d: &[(&str, &str)] = &[];
        check(&[
            // RFC 4648 test vectors, which Go's StdEncoding follows.
            (
                r#"{{ b32enc "f" }}|{{ b32enc "fo" }}|{{ b32enc "foob" }}|{{ b32enc "foobar" }}"#,
                d,
                "MY======|MZXQ====|MZXW6YQ=|MZXW6YTBOI======",
            ),
            (
                r#"{{ b32dec "MZXW6YTBOI======" }}|{{ b32dec "MZXW6===" }}"#,
                d,
                "foobar|foo",
            ),
            (
                r#"{{ b32dec "MZ!W6===" }}"#,
                d,
                "illegal base32 data at input byte 2",
            ),
            (r#"{{ hexdec "68656c6c6f" }}"#, d, "hello"),
            (
                r#"{{ hexdec "6g" }}"#,
                d,
                "encoding/hex: invalid byte: U+0067 'g'",
            ),
            (
                r#"{{ hexdec "686" }}"#,
                d,
                "encoding/hex: odd length hex string",
            ),
        ]);
    }
}

//! Secret key validity and `conversionStrategy`: how keys produced in bulk (`find` names,
//! `extract` properties) are made into keys a Kubernetes Secret accepts.
//!
//! ESO's rules (`runtime/esutils/utils.go`, `convert`, `ConvertKeys`, `ValidateKeys`), with one
//! deliberate difference:
//!
//! - `Default` replaces each invalid character (one Unicode scalar, however many bytes) with `_`.
//! - `Unicode` replaces it with `_U` + its code point in lowercase hex, at least four digits,
//!   + `_` (Go's `fmt.Sprintf("_U%04x_", r)`): `/` → `_U002f_`, `😀` → `_U1f600_`.
//! - Keys that collide after conversion are an error, not a silent overwrite.
//! - An empty key is dropped; a key longer than 253 bytes or with an invalid character is an
//!   error.
//!
//! The difference: ESO keeps every character Go's `unicode.IsLetter`/`unicode.IsNumber` accept,
//! so `café` or `x²` pass its conversion and its own validation and are then refused by the API
//! server, whose rule is `^[-._a-zA-Z0-9]+$`. Here only that rule counts, so such characters
//! are converted too and the Secret can be written. A manifest that worked with ESO gives the
//! same keys here.

use std::collections::BTreeMap;

use super::RenderError;
use crate::api::externalsecret::ConversionStrategy;
use crate::value::SecretBytes;

/// Longest key the API server accepts in a Secret's `data`.
pub const MAX_KEY_LEN: usize = 253;

fn is_valid_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')
}

/// Whether `k` is accepted as a Secret key: `^[-._a-zA-Z0-9]+$`, at most 253 bytes.
pub fn is_valid_secret_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= MAX_KEY_LEN && k.chars().all(is_valid_key_char)
}

/// Converts every invalid character of `k` with the strategy. Does not shorten long keys.
pub fn convert_key(k: &str, s: ConversionStrategy) -> String {
    let mut out = String::with_capacity(k.len());
    for c in k.chars() {
        if is_valid_key_char(c) {
            out.push(c);
            continue;
        }
        match s {
            ConversionStrategy::Default => out.push('_'),
            ConversionStrategy::Unicode => {
                out.push_str(&format!("_U{:04x}_", u32::from(c)));
            }
        }
    }
    out
}

/// Converts every key of a map. Two keys that become the same key are an error, as in ESO
/// (which would otherwise keep a value chosen by map iteration order).
pub fn convert_keys(
    map: BTreeMap<String, SecretBytes>,
    s: ConversionStrategy,
) -> Result<BTreeMap<String, SecretBytes>, RenderError> {
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let converted = convert_key(&k, s);
        if out.contains_key(&converted) {
            return Err(RenderError::KeyCollision {
                key: converted,
                during: "conversion",
            });
        }
        out.insert(converted, v);
    }
    Ok(out)
}

/// ESO's `ValidateKeys`, run on what one data/dataFrom entry produced: an empty key is dropped
/// (a value that does not exist upstream), any other invalid key is an error.
pub fn validate_keys(
    mut map: BTreeMap<String, SecretBytes>,
) -> Result<BTreeMap<String, SecretBytes>, RenderError> {
    map.remove("");
    if let Some(k) = map.keys().find(|k| !is_valid_secret_key(k)) {
        let why = if k.len() > MAX_KEY_LEN {
            format!("is {} bytes long, more than {MAX_KEY_LEN}", k.len())
        } else {
            "has characters other than letters, digits, '-', '.' and '_'".to_owned()
        };
        // A key can be as long as the caller made it; keep the message bounded.
        let shown: String = k.chars().take(MAX_KEY_LEN).collect();
        return Err(RenderError::InvalidKey { key: shown, why });
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_keys() {
        for k in ["a", "A-Z.a_z-09", "...", "-", "_", &"k".repeat(253)] {
            assert!(is_valid_secret_key(k), "{k}");
        }
        for k in ["", "a/b", "a b", "café", "x²", "a:b", &"k".repeat(254)] {
            assert!(!is_valid_secret_key(k), "{k}");
        }
    }

    #[test]
    fn default_strategy_replaces_each_char_with_one_underscore() {
        let d = ConversionStrategy::Default;
        assert_eq!(convert_key("prod/db/password", d), "prod_db_password");
        assert_eq!(convert_key("a b:c@d", d), "a_b_c_d");
        assert_eq!(convert_key("ok-key_1.txt", d), "ok-key_1.txt");
        // One `_` per character, not per byte: `é` is two bytes, `😀` four.
        assert_eq!(convert_key("café", d), "caf_");
        assert_eq!(convert_key("a😀b", d), "a_b");
    }

    #[test]
    fn unicode_strategy_uses_go_percent_04x() {
        let u = ConversionStrategy::Unicode;
        // fmt.Sprintf("_U%04x_", '/') == "_U002f_"; lowercase hex, zero-padded to four.
        assert_eq!(convert_key("prod/db", u), "prod_U002f_db");
        assert_eq!(convert_key("a b", u), "a_U0020_b");
        assert_eq!(convert_key("é", u), "_U00e9_");
        assert_eq!(convert_key("\u{ff1a}", u), "_Uff1a_");
        // Five hex digits above the BMP: %04x is a minimum width.
        assert_eq!(convert_key("😀", u), "_U1f600_");
        assert_eq!(convert_key("keep-._09", u), "keep-._09");
    }

    #[test]
    fn convert_keys_refuses_collisions() {
        let map = BTreeMap::from([
            ("a/b".to_owned(), SecretBytes::from("1".to_owned())),
            ("a:b".to_owned(), SecretBytes::from("2".to_owned())),
        ]);
        let err = convert_keys(map.clone(), ConversionStrategy::Default).unwrap_err();
        assert_eq!(
            err,
            RenderError::KeyCollision {
                key: "a_b".into(),
                during: "conversion"
            }
        );
        assert_eq!(err.reason(), crate::api::Reason::InvalidKey);
        // Unicode keeps them apart.
        let out = convert_keys(map, ConversionStrategy::Unicode).unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["a_U002f_b", "a_U003a_b"]);
        assert_eq!(out["a_U002f_b"].expose(), b"1");
    }

    #[test]
    fn validate_keys_drops_empty_and_rejects_invalid() {
        let v = |s: &str| SecretBytes::from(s.to_owned());
        let map = BTreeMap::from([("".to_owned(), v("x")), ("ok".to_owned(), v("y"))]);
        let out = validate_keys(map).unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["ok"]);

        let map = BTreeMap::from([("a/b".to_owned(), v("x"))]);
        let err = validate_keys(map).unwrap_err();
        assert!(matches!(&err, RenderError::InvalidKey { key, .. } if key == "a/b"));
        assert_eq!(err.reason(), crate::api::Reason::InvalidKey);

        let long = "k".repeat(300);
        let err = validate_keys(BTreeMap::from([(long, v("x"))])).unwrap_err();
        assert!(err.to_string().contains("300 bytes"), "{err}");
    }
}

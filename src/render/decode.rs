//! `decodingStrategy`: base64 variants applied to a fetched value before it is written.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use super::RenderError;
use crate::api::externalsecret::DecodingStrategy;
use crate::value::SecretBytes;

/// Decodes a value. `Auto` tries standard then URL-safe base64 and keeps the value unchanged
/// when it is neither (ESO's behaviour); `Base64`/`Base64URL` fail on invalid input.
pub fn decode(
    key: &str,
    value: SecretBytes,
    strategy: DecodingStrategy,
) -> Result<SecretBytes, RenderError> {
    let input = value.expose();
    let padded_or_not = |padded: &base64::engine::GeneralPurpose,
                         unpadded: &base64::engine::GeneralPurpose| {
        padded.decode(input).or_else(|_| unpadded.decode(input))
    };
    let failure = |strategy| RenderError::Decoding {
        key: key.to_owned(),
        strategy,
    };
    match strategy {
        DecodingStrategy::None => Ok(value),
        DecodingStrategy::Base64 => padded_or_not(&STANDARD, &STANDARD_NO_PAD)
            .map(SecretBytes::from)
            .map_err(|_| failure("base64")),
        DecodingStrategy::Base64Url => padded_or_not(&URL_SAFE, &URL_SAFE_NO_PAD)
            .map(SecretBytes::from)
            .map_err(|_| failure("base64url")),
        DecodingStrategy::Auto => Ok(padded_or_not(&STANDARD, &STANDARD_NO_PAD)
            .or_else(|_| padded_or_not(&URL_SAFE, &URL_SAFE_NO_PAD))
            .map(SecretBytes::from)
            .unwrap_or(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, s: DecodingStrategy) -> Result<Vec<u8>, RenderError> {
        decode("k", SecretBytes::from(input.to_owned()), s).map(SecretBytes::into_exposed)
    }

    #[test]
    fn each_strategy() {
        assert_eq!(
            run("aGVsbG8=", DecodingStrategy::None).unwrap(),
            b"aGVsbG8="
        );
        assert_eq!(run("aGVsbG8=", DecodingStrategy::Base64).unwrap(), b"hello");
        assert_eq!(run("aGVsbG8", DecodingStrategy::Base64).unwrap(), b"hello");
        // 0xfb 0xff encodes to "-_8" in URL-safe base64 and "+/8" in standard.
        assert_eq!(
            run("-_8", DecodingStrategy::Base64Url).unwrap(),
            vec![0xfb, 0xff]
        );
        assert_eq!(
            run("-_8", DecodingStrategy::Auto).unwrap(),
            vec![0xfb, 0xff]
        );
        assert_eq!(run("aGVsbG8=", DecodingStrategy::Auto).unwrap(), b"hello");
        assert_eq!(
            run("not base64!", DecodingStrategy::Auto).unwrap(),
            b"not base64!"
        );
    }

    #[test]
    fn strict_strategies_fail_without_echoing_the_value() {
        let err = run("s3cr3t!!", DecodingStrategy::Base64).unwrap_err();
        assert_eq!(err.reason().as_str(), "DecodingFailed");
        assert!(!err.to_string().contains("s3cr3t"));
        assert!(run("+/8", DecodingStrategy::Base64Url).is_err());
    }
}

//! Go duration strings (`1h`, `15m`, `1h30m`, `0`), the format ESO and Kubernetes use for
//! `refreshInterval`, parsed exactly as Go's `time.ParseDuration` does (without a sign: a
//! negative interval has no meaning here).

use std::time::Duration;

/// A string that is not a valid Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?}: expected a Go duration such as 1h, 15m, 1h30m, 10s or 0")]
pub struct InvalidDuration(pub String);

/// Parses a Go duration string.
pub fn parse_go_duration(input: &str) -> Result<Duration, InvalidDuration> {
    let err = || InvalidDuration(input.to_owned());
    if input == "0" {
        return Ok(Duration::ZERO);
    }
    if input.is_empty() {
        return Err(err());
    }
    let mut rest = input;
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_num) = match after_int.strip_prefix('.') {
            Some(f) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                f.split_at(n)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(err());
        }
        let unit_len = after_num
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after_num.len(), |(i, _)| i);
        let (unit, after_unit) = after_num.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(err()),
        };
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| err())?
        };
        let mut frac_nanos: u128 = 0;
        let mut scale = unit_nanos;
        for digit in frac_part.bytes().take(30) {
            scale /= 10;
            frac_nanos += u128::from(digit - b'0') * scale;
        }
        total_nanos = int
            .checked_mul(unit_nanos)
            .and_then(|n| n.checked_add(frac_nanos))
            .and_then(|n| n.checked_add(total_nanos))
            .ok_or_else(err)?;
        rest = after_unit;
    }
    // Go durations are int64 nanoseconds; anything larger does not parse in Go either.
    if total_nanos > i64::MAX as u128 {
        return Err(err());
    }
    Ok(Duration::from_nanos(total_nanos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let cases = [
            ("0", 0),
            ("1h", 3600),
            ("15m", 900),
            ("1h30m", 5400),
            ("10s", 10),
            ("1h0m0s", 3600),
            ("1.5h", 5400),
            ("90m", 5400),
        ];
        for (input, secs) in cases {
            assert_eq!(
                parse_go_duration(input),
                Ok(Duration::from_secs(secs)),
                "{input}"
            );
        }
        assert_eq!(parse_go_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_go_duration("2us"), Ok(Duration::from_micros(2)));
        assert_eq!(parse_go_duration("2µs"), Ok(Duration::from_micros(2)));
    }

    #[test]
    fn rejects_what_go_rejects() {
        for input in [
            "", "1", "h", "1d", "-1h", "1h-", "1.h.", ".", "1hh", "3000000h",
        ] {
            assert!(
                parse_go_duration(input).is_err(),
                "{input} should be rejected"
            );
        }
    }
}

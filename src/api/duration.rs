//! Go duration strings (`1h`, `15m`, `1h30m`, `0`), the format ESO and Kubernetes use for
//! `refreshInterval`, parsed exactly as Go's `time.ParseDuration` does (without a sign: a
//! negative interval has no meaning here).

use std::time::Duration;

/// A string that is not a valid Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?}: expected a Go duration such as 1h, 15m, 1h30m, 10s or 0")]
pub struct InvalidDuration(pub String);

/// Parses a Go duration string, step for step as Go's `time.ParseDuration`: the integer part of
/// each component in a `u64` with Go's overflow checks, its fraction's digits (those that fit)
/// scaled to the unit through `f64` as Go does (so `0.000000000020000m` is 1ns, not 1.2 rounded
/// some other way), the total at most `i64::MAX` nanoseconds.
pub fn parse_go_duration(input: &str) -> Result<Duration, InvalidDuration> {
    const LIMIT: u64 = 1 << 63;
    let err = || InvalidDuration(input.to_owned());
    if input == "0" {
        return Ok(Duration::ZERO);
    }
    if input.is_empty() {
        return Err(err());
    }
    let b = input.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    while i < b.len() {
        if !(b[i] == b'.' || b[i].is_ascii_digit()) {
            return Err(err());
        }
        // [0-9]*
        let start = i;
        let mut whole: u64 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            whole = whole
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(b[i] - b'0')))
                .filter(|v| *v <= LIMIT)
                .ok_or_else(err)?;
            i += 1;
        }
        let has_whole = i > start;
        // (\.[0-9]*)?: digits past what a u64 holds are read and ignored, as in Go.
        let (mut fraction, mut scale, mut has_fraction) = (0u64, 1f64, false);
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let start = i;
            let mut overflow = false;
            while i < b.len() && b[i].is_ascii_digit() {
                if !overflow {
                    match fraction
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(b[i] - b'0')))
                        .filter(|v| *v <= LIMIT)
                    {
                        Some(v) => {
                            fraction = v;
                            scale *= 10.0;
                        }
                        None => overflow = true,
                    }
                }
                i += 1;
            }
            has_fraction = i > start;
        }
        if !has_whole && !has_fraction {
            return Err(err());
        }
        // The unit: everything up to the next digit or dot.
        let start = i;
        while i < b.len() && b[i] != b'.' && !b[i].is_ascii_digit() {
            i += 1;
        }
        let unit: u64 = match &input[start..i] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(err()),
        };
        if whole > LIMIT / unit {
            return Err(err());
        }
        let mut nanos = whole * unit;
        if fraction > 0 {
            // Go: v += uint64(float64(f) * (float64(unit) / scale)).
            nanos += (fraction as f64 * (unit as f64 / scale)) as u64;
            if nanos > LIMIT {
                return Err(err());
            }
        }
        total = total
            .checked_add(nanos)
            .filter(|t| *t <= LIMIT)
            .ok_or_else(err)?;
    }
    // Go durations are int64 nanoseconds; anything larger does not parse in Go either.
    if total >= LIMIT {
        return Err(err());
    }
    Ok(Duration::from_nanos(total))
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
        // Fractions scale through a float64 as in Go; digits past a u64 are ignored.
        assert_eq!(
            parse_go_duration("0.000000000020000m"),
            Ok(Duration::from_nanos(1))
        );
        assert_eq!(parse_go_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(
            parse_go_duration(&format!("1.{}s", "1".repeat(40))),
            Ok(Duration::from_nanos(1_111_111_111))
        );
        assert_eq!(
            parse_go_duration("2562047h47m16.854775807s"),
            Ok(Duration::from_nanos(i64::MAX as u64))
        );
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

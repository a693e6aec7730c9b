//! `api::duration::parse_go_duration`: `refreshInterval` and sync windows. Never panics; reads
//! back every duration Go's `Duration.String()` prints; agrees with Go's `time.ParseDuration`
//! (modelled below from its documented algorithm: int64 nanoseconds, fractions through float64)
//! on generated inputs of Go's grammar, valid or one step off.

use std::time::Duration;

use proptest::prelude::*;
use stagesync::api::duration::parse_go_duration;

use crate::{Found, Target, config, regressions};

const ANY_TEXT: u32 = 3000;
const ROUND_TRIP: u32 = 2000;
const GO_MODEL: u32 = 3000;

pub const TARGETS: &[Target] = &[
    Target {
        test: "duration_parser_never_panics",
        code: "`api::duration::parse_go_duration`",
        checks: "arbitrary text and text from the grammar's alphabet (digits, `.`, units, signs, \
                 µ/μ, NUL): a duration or an error, never a panic",
        cases: ANY_TEXT,
    },
    Target {
        test: "formatted_durations_read_back",
        code: "`api::duration::parse_go_duration`",
        checks: "every duration from 0 to Go's maximum, printed as Go's `Duration.String()` \
                 prints it, reads back to the same nanosecond",
        cases: ROUND_TRIP,
    },
    Target {
        test: "durations_agree_with_go",
        code: "`api::duration::parse_go_duration`",
        checks: "model: inputs of Go's grammar (leading zeros, long fractions, every unit, \
                 overflow, missing units, stray dots) give what Go's `time.ParseDuration` gives",
        cases: GO_MODEL,
    },
];

pub const FOUND: &[Found] = &[Found {
    bug: "a fraction with many digits lost its nanoseconds (`0.000000000020000m` gave 0 where Go \
          gives 1ns): the parser scaled the unit down by integer division per digit",
    fix: "`api/duration.rs` follows Go's `ParseDuration` step for step (fraction digits scaled \
          through float64, Go's overflow checks)",
    test: "long_fractions_scale_as_in_go",
}];

/// Go's `Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s` (non-negative durations only).
fn go_format(nanos: u64) -> String {
    fn frac(v: u64, prec: u32) -> String {
        let p = 10u64.pow(prec);
        let (w, f) = (v / p, v % p);
        if f == 0 {
            return w.to_string();
        }
        let f = format!("{f:0width$}", width = prec as usize);
        format!("{w}.{}", f.trim_end_matches('0'))
    }
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}\u{b5}s", frac(nanos, 3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", frac(nanos, 6));
    }
    let (mins, secs) = (nanos / 60_000_000_000, nanos % 60_000_000_000);
    let (h, m) = (mins / 60, mins % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&frac(secs, 9));
    out.push('s');
    out
}

/// Go's `time.ParseDuration` for unsigned input, as its source documents it: components
/// `[0-9]*(\.[0-9]*)?unit`, integer part accumulated in uint64 with overflow checks, the fraction's
/// digits (until they would overflow) scaled through float64, the total at most 2^63-1 ns.
fn go_parse(s: &str) -> Option<u64> {
    const LIMIT: u64 = 1 << 63;
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    while i < b.len() {
        if !(b[i] == b'.' || b[i].is_ascii_digit()) {
            return None;
        }
        let start = i;
        let mut v: u64 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            if v > LIMIT / 10 {
                return None;
            }
            v = v * 10 + u64::from(b[i] - b'0');
            if v > LIMIT {
                return None;
            }
            i += 1;
        }
        let pre = i != start;
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let fstart = i;
            let mut overflow = false;
            while i < b.len() && b[i].is_ascii_digit() {
                if !overflow {
                    if f > (LIMIT - 1) / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + u64::from(b[i] - b'0');
                        if y > LIMIT {
                            overflow = true;
                        } else {
                            f = y;
                            scale *= 10.0;
                        }
                    }
                }
                i += 1;
            }
            post = i != fstart;
        }
        if !pre && !post {
            return None;
        }
        let ustart = i;
        while i < b.len() && b[i] != b'.' && !b[i].is_ascii_digit() {
            i += 1;
        }
        let unit: u64 = match &s[ustart..i] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        if v > LIMIT / unit {
            return None;
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return None;
            }
        }
        total += v;
        if total > LIMIT {
            return None;
        }
    }
    (total < LIMIT).then_some(total)
}

/// One component of Go's grammar, sometimes one step off (no digits, no unit, unknown unit).
fn component() -> impl Strategy<Value = String> {
    let digits = prop_oneof![
        4 => "[0-9]{1,3}",
        1 => "0{0,25}[1-9][0-9]{0,20}",
        1 => Just(String::new()),
    ];
    let fraction = prop_oneof![
        3 => Just(String::new()),
        2 => "\\.[0-9]{1,4}",
        1 => "\\.[0-9]{15,40}",
        1 => Just(".".to_owned()),
    ];
    let unit = prop_oneof![
        6 => prop::sample::select(vec!["ns", "us", "\u{b5}s", "\u{3bc}s", "ms", "s", "m", "h"])
            .prop_map(str::to_owned),
        1 => Just(String::new()),
        1 => prop::sample::select(vec!["d", "H", "sec", "\u{b5}", "mss", " s", "s\u{0}"])
            .prop_map(str::to_owned),
    ];
    (digits, fraction, unit).prop_map(|(d, f, u)| format!("{d}{f}{u}"))
}

proptest! {
    #![proptest_config(config(regressions!("duration"), ANY_TEXT))]

    #[test]
    fn duration_parser_never_panics(
        text in prop_oneof![
            any::<String>(),
            "[0-9.hmsunµμ+\\- \u{0}]{0,24}",
        ]
    ) {
        let _ = parse_go_duration(&text);
    }
}

proptest! {
    #![proptest_config(config(regressions!("duration"), ROUND_TRIP))]

    #[test]
    fn formatted_durations_read_back(
        nanos in prop_oneof![
            0u64..1_000_000,
            0u64..=i64::MAX as u64,
            (0u64..10_000).prop_map(|s| s * 1_000_000_000),
            (0u64..1_000).prop_map(|h| h * 3_600_000_000_000 + 1),
            Just(i64::MAX as u64),
        ]
    ) {
        let text = go_format(nanos);
        prop_assert_eq!(parse_go_duration(&text), Ok(Duration::from_nanos(nanos)), "{}", text);
    }
}

proptest! {
    #![proptest_config(config(regressions!("duration"), GO_MODEL))]

    #[test]
    fn durations_agree_with_go(parts in prop::collection::vec(component(), 1..4)) {
        let text = parts.concat();
        let ours = parse_go_duration(&text).ok().map(|d| d.as_nanos() as u64);
        prop_assert_eq!(ours, go_parse(&text), "{:?}", text);
    }
}

#[test]
fn the_model_is_go() {
    // Spot checks of the model against what Go prints for these inputs.
    for (text, want) in [
        ("0", Some(0)),
        ("1h30m", Some(5_400_000_000_000)),
        (".5s", Some(500_000_000)),
        ("1.s", Some(1_000_000_000)),
        ("1.0000000001h", Some(3_600_000_000_360)),
        ("9223372036854775807ns", Some(i64::MAX as u64)),
        ("9223372036854775808ns", None),
        ("2562047h47m16.854775807s", Some(i64::MAX as u64)),
        ("2562048h", None),
        ("1", None),
        (".s", None),
        ("1d", None),
        ("", None),
    ] {
        assert_eq!(go_parse(text), want, "{text}");
    }
    assert_eq!(go_format(3_723_500_000_000), "1h2m3.5s");
    assert_eq!(go_format(1_500), "1.5\u{b5}s");
    assert_eq!(go_format(120_000_000_000), "2m0s");
}

#[test]
fn long_fractions_scale_as_in_go() {
    for (text, go) in [
        ("0.000000000020000m", 1),
        ("0.00000000001h", 36),
        ("1.00000000000000000001s", 1_000_000_000),
        // Go keeps 18 of these digits and rounds them through a float64 to a whole nanosecond.
        ("0.9999999999999999999999ns", 1),
    ] {
        assert_eq!(go_parse(text), Some(go), "the model, {text}");
        assert_eq!(
            parse_go_duration(text),
            Ok(Duration::from_nanos(go)),
            "{text}"
        );
    }
}

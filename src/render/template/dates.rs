//! sprig's date functions (`date.go`): `now date dateInZone date_in_zone htmlDate
//! htmlDateInZone toDate mustToDate dateModify date_modify mustDateModify must_date_modify
//! duration durationRound ago unixEpoch`, with Go's layouts (see [`super::gotime`]).
//!
//! A Go `time.Time` is carried as a string: the text Go prints for it (`2024-03-05 00:00:00
//! +0000 UTC`), plus the instant and its time zone in hidden text (see
//! [`super::values::hidden`]), so `{{ toDate … }}` prints as in Go and the date functions get
//! the time back. "Local" is the operator's time zone (`TZ`, else `/etc/localtime`, as Go).
//!
//! `now` differs on every render, in ESO too: a synced Secret whose template uses it (or `ago`,
//! or `date` of anything but a time or a number, which formats the current time as Go does)
//! is rewritten on every refresh.

use gtmpl_ng::{Func, FuncError, NumberKind, Value};
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, Zoned};

use super::gotime::{duration_string, format, go_string, parse, parse_duration, since};
use super::values::{arity, generic, hidden, hidden_text, str_arg};

/// The functions of this family.
pub(super) const FUNCS: &[(&str, Func)] = &[
    ("now", now),
    ("date", date),
    ("dateInZone", date_in_zone),
    ("date_in_zone", date_in_zone),
    ("htmlDate", html_date),
    ("htmlDateInZone", html_date_in_zone),
    ("toDate", to_date),
    ("mustToDate", must_to_date),
    ("dateModify", date_modify),
    ("date_modify", date_modify),
    ("mustDateModify", must_date_modify),
    ("must_date_modify", must_date_modify),
    ("duration", duration),
    ("durationRound", duration_round),
    ("ago", ago),
    ("unixEpoch", unix_epoch),
];

/// The zone a time keeps, by how it is named in the hidden text.
fn zone_spec(z: &Zoned, local_name: bool) -> String {
    if local_name {
        return "Local".to_owned();
    }
    let tz = z.time_zone();
    match tz.iana_name() {
        Some(name) => format!("IANA:{name}"),
        None if tz.to_fixed_offset().is_ok() => format!("FIXED:{}", z.offset().seconds()),
        None => format!("ABBR:{}", tz.to_offset_info(z.timestamp()).abbreviation()),
    }
}

fn zone_from_spec(spec: &str) -> Option<TimeZone> {
    if spec == "Local" {
        return Some(TimeZone::system());
    }
    if let Some(name) = spec.strip_prefix("IANA:") {
        return TimeZone::get(name).ok();
    }
    if let Some(name) = spec.strip_prefix("ABBR:") {
        return super::gotime::named_zone(name);
    }
    let secs: i32 = spec.strip_prefix("FIXED:")?.parse().ok()?;
    Offset::from_seconds(secs).ok().map(TimeZone::fixed)
}

/// A time as a template value. `local` records that its zone is Go's `Local`.
fn time_value(z: &Zoned, local: bool) -> Value {
    let ts = z.timestamp();
    let meta = format!(
        "T{}.{}@{}",
        ts.as_second(),
        ts.subsec_nanosecond(),
        zone_spec(z, local)
    );
    Value::String(format!("{}{}", hidden(&meta), go_string(z)))
}

/// The time a value carries, with whether its zone is `Local`; `None` for any other value.
fn as_time(v: &Value) -> Option<(Zoned, bool)> {
    let Value::String(s) = v else { return None };
    let meta = hidden_text(s)?;
    let rest = meta.strip_prefix('T')?;
    let (instant, spec) = rest.split_once('@')?;
    let (secs, nanos) = instant.split_once('.')?;
    let ts = Timestamp::new(secs.parse().ok()?, nanos.parse().ok()?).ok()?;
    Some((ts.to_zoned(zone_from_spec(spec)?), spec == "Local"))
}

/// RFC 3339 with nanoseconds, as Go's `json.Marshal` writes a time, for [`super::json`].
pub(super) fn json_text(v: &Value) -> Option<String> {
    let (z, _) = as_time(v)?;
    Some(format(&z, "2006-01-02T15:04:05.999999999Z07:00"))
}

fn time_arg(name: &str, v: &Value) -> Result<Zoned, FuncError> {
    as_time(v).map(|(z, _)| z).ok_or_else(|| {
        generic(format!(
            "wrong type for value in {name}; expected time.Time; got {}",
            super::values::go_type(v)
        ))
    })
}

fn local_now() -> Zoned {
    Timestamp::now().to_zoned(TimeZone::system())
}

/// sprig's integer cases: a number is seconds since the epoch.
fn unix(n: &gtmpl_ng::Number) -> Option<Timestamp> {
    let secs = match n.kind() {
        NumberKind::Signed(i) => i,
        NumberKind::Unsigned(u) => i64::try_from(u).ok()?,
        NumberKind::Float(_) => return None,
    };
    Timestamp::from_second(secs).ok()
}

/// Go's `time.LoadLocation`: "" and "UTC" are UTC, "Local" the local zone; an unknown name
/// falls back to UTC, as sprig does.
fn load_location(name: &str) -> TimeZone {
    match name {
        "" | "UTC" => TimeZone::UTC,
        "Local" => TimeZone::system(),
        _ => TimeZone::get(name).unwrap_or(TimeZone::UTC),
    }
}

/// sprig's `dateInZone`: a time, or seconds since the epoch, or (anything else) now.
fn in_zone(layout: &str, date: &Value, zone: &str) -> Value {
    let ts = match date {
        Value::Number(n) => unix(n).unwrap_or_else(Timestamp::now),
        other => as_time(other).map_or_else(Timestamp::now, |(z, _)| z.timestamp()),
    };
    Value::String(format(&ts.to_zoned(load_location(zone)), layout))
}

fn now(args: &[Value]) -> Result<Value, FuncError> {
    arity("now", args, 0)?;
    Ok(time_value(&local_now(), true))
}

fn date(args: &[Value]) -> Result<Value, FuncError> {
    arity("date", args, 2)?;
    Ok(in_zone(str_arg("date", &args[0])?, &args[1], "Local"))
}

fn date_in_zone(args: &[Value]) -> Result<Value, FuncError> {
    arity("dateInZone", args, 3)?;
    let layout = str_arg("dateInZone", &args[0])?;
    Ok(in_zone(layout, &args[1], str_arg("dateInZone", &args[2])?))
}

fn html_date(args: &[Value]) -> Result<Value, FuncError> {
    arity("htmlDate", args, 1)?;
    Ok(in_zone("2006-01-02", &args[0], "Local"))
}

fn html_date_in_zone(args: &[Value]) -> Result<Value, FuncError> {
    arity("htmlDateInZone", args, 2)?;
    Ok(in_zone(
        "2006-01-02",
        &args[0],
        str_arg("htmlDateInZone", &args[1])?,
    ))
}

fn parse_local(name: &str, args: &[Value]) -> Result<Result<(Zoned, bool), String>, FuncError> {
    arity(name, args, 2)?;
    let layout = str_arg(name, &args[0])?;
    let text = str_arg(name, &args[1])?;
    let local = TimeZone::system();
    Ok(parse(layout, text, &local).map(|z| {
        let is_local = z.time_zone() == &local;
        (z, is_local)
    }))
}

/// sprig's `toDate`: Go's zero time when the text does not parse.
fn to_date(args: &[Value]) -> Result<Value, FuncError> {
    Ok(match parse_local("toDate", args)? {
        Ok((z, local)) => time_value(&z, local),
        Err(_) => {
            let zero = jiff::civil::date(1, 1, 1)
                .to_zoned(TimeZone::UTC)
                .map_err(|e| generic(e.to_string()))?;
            time_value(&zero, false)
        }
    })
}

fn must_to_date(args: &[Value]) -> Result<Value, FuncError> {
    match parse_local("mustToDate", args)? {
        Ok((z, local)) => Ok(time_value(&z, local)),
        Err(e) => Err(generic(e)),
    }
}

fn add(z: &Zoned, nanos: i64) -> Result<Zoned, FuncError> {
    z.checked_add(jiff::SignedDuration::from_nanos(nanos))
        .map_err(|e| generic(e.to_string()))
}

/// sprig's `dateModify "-1.5h" time`: the time moved by a Go duration; an invalid duration
/// leaves it as it was.
fn date_modify(args: &[Value]) -> Result<Value, FuncError> {
    arity("dateModify", args, 2)?;
    let d = str_arg("dateModify", &args[0])?;
    let (z, local) =
        as_time(&args[1]).ok_or_else(|| time_arg("dateModify", &args[1]).unwrap_err())?;
    Ok(match parse_duration(d) {
        Ok(n) => time_value(&add(&z, n)?, local),
        Err(_) => args[1].clone(),
    })
}

fn must_date_modify(args: &[Value]) -> Result<Value, FuncError> {
    arity("mustDateModify", args, 2)?;
    let d = str_arg("mustDateModify", &args[0])?;
    let (z, local) =
        as_time(&args[1]).ok_or_else(|| time_arg("mustDateModify", &args[1]).unwrap_err())?;
    let n = parse_duration(d).map_err(generic)?;
    Ok(time_value(&add(&z, n)?, local))
}

/// An integer argument of `duration`/`durationRound`: sprig reads only Go's `int64` there (an
/// `int` literal gives 0 in Go); here every integer counts, see the module doc of
/// [`super`].
fn int64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => match n.kind() {
            NumberKind::Signed(i) => Some(i),
            NumberKind::Unsigned(u) => Some(u as i64),
            NumberKind::Float(_) => None,
        },
        _ => None,
    }
}

/// sprig's `duration seconds`: seconds (a number, or decimal text) as a Go duration.
fn duration(args: &[Value]) -> Result<Value, FuncError> {
    arity("duration", args, 1)?;
    let secs = match &args[0] {
        Value::String(s) if hidden_text(s).is_none() => s.parse::<i64>().unwrap_or(0),
        other => int64(other).unwrap_or(0),
    };
    Ok(Value::String(duration_string(
        secs.wrapping_mul(1_000_000_000),
    )))
}

/// sprig's `durationRound`: a duration (Go text, nanoseconds, or the time since a time) in its
/// largest unit, rounded down: `2h`, `3mo`, `1y`.
fn duration_round(args: &[Value]) -> Result<Value, FuncError> {
    arity("durationRound", args, 1)?;
    let d = match &args[0] {
        v @ Value::String(s) => match as_time(v) {
            Some((z, _)) => since(Timestamp::now(), z.timestamp()),
            None => parse_duration(s).unwrap_or(0),
        },
        other => int64(other).unwrap_or(0),
    };
    let u = d.unsigned_abs();
    const HOUR: u64 = 3_600_000_000_000;
    let units: [(u64, &str); 6] = [
        (HOUR * 24 * 365, "y"),
        (HOUR * 24 * 30, "mo"),
        (HOUR * 24, "d"),
        (HOUR, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
    ];
    let text = units.iter().find(|(size, _)| u > *size).map_or_else(
        || "0s".to_owned(),
        |(size, unit)| format!("{}{unit}", u / size),
    );
    Ok(Value::String(text))
}

/// sprig's `ago`: the time since a time (or seconds since the epoch), rounded to seconds.
fn ago(args: &[Value]) -> Result<Value, FuncError> {
    arity("ago", args, 1)?;
    let now = Timestamp::now();
    let then = match &args[0] {
        Value::Number(n) => unix(n).unwrap_or(now),
        other => as_time(other).map_or(now, |(z, _)| z.timestamp()),
    };
    let d = since(now, then);
    // Go's Duration.Round(time.Second): halves away from zero.
    let rounded = (i128::from(d) + i128::from(d.signum()) * 500_000_000) / 1_000_000_000;
    let rounded = i64::try_from(rounded * 1_000_000_000).unwrap_or(d);
    Ok(Value::String(duration_string(rounded)))
}

/// sprig's `unixEpoch`: whole seconds since the epoch, rounded down as Go's `Unix`.
fn unix_epoch(args: &[Value]) -> Result<Value, FuncError> {
    arity("unixEpoch", args, 1)?;
    let ts = time_arg("unixEpoch", &args[0])?.timestamp();
    let mut secs = ts.as_second();
    if ts.subsec_nanosecond() < 0 {
        secs -= 1;
    }
    Ok(Value::String(secs.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::template::testing::*;

    /// Each case is what Go with ESO's sprig fork renders with `TZ=UTC`; these tests use only
    /// explicit zones and UTC times, so they hold in any local zone.
    #[test]
    fn dates_as_go() {
        let d: &[(&str, &str)] = &[("when", "2024-03-05T14:07:09.25Z")];
        check(&[
            (
                r#"{{ toDate "2006-01-02T15:04:05Z07:00" .when | unixEpoch }}"#,
                d,
                "1709647629",
            ),
            (
                r#"{{ dateInZone "Mon Jan _2 15:04:05.000 MST 2006" (toDate "2006-01-02T15:04:05Z07:00" .when) "UTC" }}"#,
                d,
                "Tue Mar  5 14:07:09.250 UTC 2024",
            ),
            (
                r#"{{ dateInZone "2006-01-02 03:04:05 PM -07:00 MST" 1709647629 "America/New_York" }}"#,
                d,
                "2024-03-05 09:07:09 AM -05:00 EST",
            ),
            (
                r#"{{ dateInZone "Jan 2, 2006 at 3:04pm (Z0700)" 1709647629 "Asia/Kolkata" }}"#,
                d,
                "Mar 5, 2024 at 7:37pm (+0530)",
            ),
            (
                r#"{{ dateInZone "02/01/06 002 __2 .999 ,000" 1709647629 "Nowhere/Unknown" }}"#,
                d,
                "05/03/24 065  65  ,000",
            ),
            (r#"{{ htmlDateInZone 0 "UTC" }}"#, d, "1970-01-01"),
            (
                r#"{{ dateInZone "15:04:05.99" (toDate "2006-01-02T15:04:05Z07:00" .when | dateModify "-1.5h") "UTC" }}"#,
                d,
                "12:37:09.25",
            ),
            (
                r#"{{ toDate "2006-01-02T15:04:05Z07:00" .when | dateModify "nonsense" | unixEpoch }}"#,
                d,
                "1709647629",
            ),
            (
                r#"{{ toDate "2006-01-02T15:04:05Z07:00" .when }}"#,
                d,
                "2024-03-05 14:07:09.25 +0000 UTC",
            ),
            (
                r#"{{ toDate "2006-01-02 15:04 -0700" "2024-03-05 10:00 +0200" }}"#,
                d,
                "2024-03-05 10:00:00 +0200 +0200",
            ),
            (
                r#"{{ toDate "2006-01-02" "not a date" }}"#,
                d,
                "0001-01-01 00:00:00 +0000 UTC",
            ),
            (
                r#"{{ toDate "2006-01-02T15:04:05Z07:00" .when | toJson }}"#,
                d,
                r#""2024-03-05T14:07:09.25Z""#,
            ),
            (r#"{{ duration "95" }}|{{ duration "x" }}"#, d, "1m35s|0s"),
            (
                r#"{{ durationRound "2h10m" }} {{ durationRound "49h" }} {{ durationRound "800h" }} {{ durationRound "9000h" }} {{ durationRound "-3s" }} {{ durationRound "1s" }}"#,
                d,
                "2h 2d 1mo 1y 3s 0s",
            ),
            (r#"{{ typeOf (toDate "2006" "2024") }}"#, d, "time.Time"),
            // Go: an unknown zone abbreviation makes a zone of that name at offset 0.
            (
                r#"{{ toDate "2006-01-02 MST" "2024-03-05 XYZ" }}|{{ toDate "2006-01-02 MST" "2024-03-05 XYZ" | dateModify "1h" }}"#,
                d,
                "2024-03-05 00:00:00 +0000 XYZ|2024-03-05 01:00:00 +0000 XYZ",
            ),
            // Omitted elements are zero, or one where zero is impossible: year 0.
            (
                r#"{{ toDate "15:04:05Z07:00" "10:11:12.5Z" }}"#,
                d,
                "0000-01-01 10:11:12.5 +0000 UTC",
            ),
            (
                r#"{{ toDate "Jan 2 06 3PMZ07" "MAR 5 24 4pmZ" }}|{{ toDate "Jan 2 06 3PMZ07" "Mar 5 24 4PMZ" }}"#,
                d,
                "0001-01-01 00:00:00 +0000 UTC|2024-03-05 16:00:00 +0000 UTC",
            ),
        ]);
        for (tpl, want) in [
            (
                r#"{{ mustToDate "2006-01-02" "2024-13-01" }}"#,
                "parsing time: month out of range",
            ),
            (
                r#"{{ mustToDate "2006-01-02" "2024-x" }}"#,
                r#"parsing time as "2006-01-02": cannot parse the text at "01""#,
            ),
            (
                r#"{{ toDate "2006" "2024" | mustDateModify "1y" }}"#,
                r#"time: unknown unit "y" in duration"#,
            ),
            (
                r#"{{ "2024" | unixEpoch }}"#,
                "expected time.Time; got string",
            ),
        ] {
            let err = render(tpl, d).unwrap_err().to_string();
            assert!(err.contains(want), "{tpl}: {err}");
        }
    }

    #[test]
    fn now_and_ago() {
        let d: &[(&str, &str)] = &[];
        let year = render(r#"{{ now | date "2006" }}"#, d).unwrap();
        assert_eq!(year, jiff::Zoned::now().year().to_string());
        // `date` of a string formats the current time, as in Go.
        assert_eq!(render(r#"{{ "1999" | date "2006" }}"#, d).unwrap(), year);
        assert_eq!(render("{{ now | ago }}", d).unwrap(), "0s");
        let epoch: i64 = render("{{ now | unixEpoch }}", d).unwrap().parse().unwrap();
        assert!((epoch - Timestamp::now().as_second()).abs() < 5);
        assert_eq!(render(r#"{{ ago 0 | len | lt 8 }}"#, d).unwrap(), "true");
    }

    /// Go's `time.ParseDuration` and `Duration.String`.
    #[test]
    fn go_durations() {
        for (text, nanos, printed) in [
            ("0", 0, "0s"),
            ("1h2m3.5s", 3_723_500_000_000, "1h2m3.5s"),
            ("-1.5h", -5_400_000_000_000, "-1h30m0s"),
            ("300ms", 300_000_000, "300ms"),
            ("1us", 1_000, "1\u{b5}s"),
            ("1.5\u{b5}s", 1_500, "1.5\u{b5}s"),
            ("2m", 120_000_000_000, "2m0s"),
            (".5s", 500_000_000, "500ms"),
            ("7ns", 7, "7ns"),
        ] {
            assert_eq!(parse_duration(text), Ok(nanos), "{text}");
            assert_eq!(duration_string(nanos), printed, "{text}");
        }
        for bad in ["", "1", "1x", "h", ".s", "9999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}

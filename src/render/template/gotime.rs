//! Go's `time` package where sprig's date functions use it: layouts written with the reference
//! time (`Mon Jan 2 15:04:05 MST 2006`) for `Format` and `Parse`, and `Duration`'s syntax and
//! printing. Calendar and time zone arithmetic is jiff's.

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, Zoned};

const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// One element of a layout (Go's `std*` constants), or literal text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Lowerpm,
    Tz,
    Iso8601Tz,
    Iso8601SecondsTz,
    Iso8601ShortTz,
    Iso8601ColonTz,
    Iso8601ColonSecondsTz,
    NumTz,
    NumSecondsTz,
    NumShortTz,
    NumColonTz,
    NumColonSecondsTz,
    /// `.000` / `,000` (digits fixed) or `.999` (trailing zeros trimmed): separator, digits.
    Frac(u8, usize, bool),
}

/// Go's `nextStdChunk`: the literal text before the next element, the element, and the rest.
fn next_chunk(layout: &str) -> (&str, Option<Std>, &str) {
    let b = layout.as_bytes();
    let has = |i: usize, s: &str| layout[i..].starts_with(s);
    for i in 0..b.len() {
        if !layout.is_char_boundary(i) {
            continue;
        }
        let found: Option<(Std, usize)> = match b[i] {
            b'J' if has(i, "January") => Some((Std::LongMonth, 7)),
            b'J' if has(i, "Jan") => Some((Std::Month, 3)),
            b'M' if has(i, "Monday") => Some((Std::LongWeekDay, 6)),
            b'M' if has(i, "Mon") => Some((Std::WeekDay, 3)),
            b'M' if has(i, "MST") => Some((Std::Tz, 3)),
            b'0' if has(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'0' if i + 1 < b.len() && (b'1'..=b'6').contains(&b[i + 1]) => Some((
                match b[i + 1] {
                    b'1' => Std::ZeroMonth,
                    b'2' => Std::ZeroDay,
                    b'3' => Std::ZeroHour12,
                    b'4' => Std::ZeroMinute,
                    b'5' => Std::ZeroSecond,
                    _ => Std::Year,
                },
                2,
            )),
            b'1' if has(i, "15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if has(i, "2006") => Some((Std::LongYear, 4)),
            b'2' => Some((Std::Day, 1)),
            b'_' if has(i, "_2006") => {
                // "_2006" is a literal "_" then the year.
                return (&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..]);
            }
            b'_' if has(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'_' if has(i, "_2") => Some((Std::UnderDay, 2)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if has(i, "PM") => Some((Std::PM, 2)),
            b'p' if has(i, "pm") => Some((Std::Lowerpm, 2)),
            b'-' if has(i, "-070000") => Some((Std::NumSecondsTz, 7)),
            b'-' if has(i, "-07:00:00") => Some((Std::NumColonSecondsTz, 9)),
            b'-' if has(i, "-0700") => Some((Std::NumTz, 5)),
            b'-' if has(i, "-07:00") => Some((Std::NumColonTz, 6)),
            b'-' if has(i, "-07") => Some((Std::NumShortTz, 3)),
            b'Z' if has(i, "Z070000") => Some((Std::Iso8601SecondsTz, 7)),
            b'Z' if has(i, "Z07:00:00") => Some((Std::Iso8601ColonSecondsTz, 9)),
            b'Z' if has(i, "Z0700") => Some((Std::Iso8601Tz, 5)),
            b'Z' if has(i, "Z07:00") => Some((Std::Iso8601ColonTz, 6)),
            b'Z' if has(i, "Z07") => Some((Std::Iso8601ShortTz, 3)),
            c @ (b'.' | b',') if i + 1 < b.len() && matches!(b[i + 1], b'0' | b'9') => {
                let digit = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == digit {
                    j += 1;
                }
                // Only a run not followed by another digit is a fraction.
                if j < b.len() && b[j].is_ascii_digit() {
                    None
                } else {
                    Some((Std::Frac(c, j - i - 1, digit == b'9'), j - i))
                }
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            return (&layout[..i], Some(std), &layout[i + len..]);
        }
    }
    (layout, None, "")
}

fn pad(out: &mut String, n: i64, width: usize) {
    if n < 0 {
        out.push('-');
    }
    let digits = n.unsigned_abs().to_string();
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

/// Go's `Time.Format(layout)` of an instant in a time zone.
pub(super) fn format(z: &Zoned, layout: &str) -> String {
    let dt = z.datetime();
    let offset = z.offset().seconds();
    let abbrev = go_abbreviation(z);
    let mut out = String::new();
    let mut rest = layout;
    loop {
        let (prefix, std, after) = next_chunk(rest);
        out.push_str(prefix);
        let Some(std) = std else { break };
        rest = after;
        let hour = i64::from(dt.hour());
        let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
        match std {
            Std::LongMonth => {
                out.push_str(LONG_MONTHS[usize::try_from(dt.month() - 1).unwrap_or(0)])
            }
            Std::Month => {
                out.push_str(&LONG_MONTHS[usize::try_from(dt.month() - 1).unwrap_or(0)][..3])
            }
            Std::NumMonth => pad(&mut out, dt.month().into(), 0),
            Std::ZeroMonth => pad(&mut out, dt.month().into(), 2),
            Std::LongWeekDay | Std::WeekDay => {
                let name =
                    LONG_DAYS[usize::from(dt.weekday().to_sunday_zero_offset().unsigned_abs())];
                out.push_str(if std == Std::WeekDay {
                    &name[..3]
                } else {
                    name
                });
            }
            Std::Day => pad(&mut out, dt.day().into(), 0),
            Std::UnderDay => {
                if dt.day() < 10 {
                    out.push(' ');
                }
                pad(&mut out, dt.day().into(), 0);
            }
            Std::ZeroDay => pad(&mut out, dt.day().into(), 2),
            Std::UnderYearDay => {
                let yd = i64::from(dt.day_of_year());
                out.push_str(&" ".repeat(3 - yd.to_string().len()));
                pad(&mut out, yd, 0);
            }
            Std::ZeroYearDay => pad(&mut out, dt.day_of_year().into(), 3),
            Std::Hour => pad(&mut out, hour, 2),
            Std::Hour12 => pad(&mut out, hour12, 0),
            Std::ZeroHour12 => pad(&mut out, hour12, 2),
            Std::Minute => pad(&mut out, dt.minute().into(), 0),
            Std::ZeroMinute => pad(&mut out, dt.minute().into(), 2),
            Std::Second => pad(&mut out, dt.second().into(), 0),
            Std::ZeroSecond => pad(&mut out, dt.second().into(), 2),
            Std::LongYear => pad(&mut out, dt.year().into(), 4),
            Std::Year => pad(&mut out, i64::from(dt.year()).rem_euclid(100), 2),
            Std::PM => out.push_str(if hour >= 12 { "PM" } else { "AM" }),
            Std::Lowerpm => out.push_str(if hour >= 12 { "pm" } else { "am" }),
            Std::Tz => {
                if abbrev.is_empty() {
                    zone(&mut out, offset, false, false, false);
                } else {
                    out.push_str(&abbrev);
                }
            }
            Std::Frac(sep, digits, trim) => {
                let nanos = format!("{:09}", dt.subsec_nanosecond());
                let mut frac = &nanos[..digits.min(9)];
                if trim {
                    frac = frac.trim_end_matches('0');
                }
                if !frac.is_empty() {
                    out.push(char::from(sep));
                    out.push_str(frac);
                }
            }
            zone_std => {
                let iso = matches!(
                    zone_std,
                    Std::Iso8601Tz
                        | Std::Iso8601SecondsTz
                        | Std::Iso8601ShortTz
                        | Std::Iso8601ColonTz
                        | Std::Iso8601ColonSecondsTz
                );
                if iso && offset == 0 {
                    out.push('Z');
                    continue;
                }
                let colon = matches!(
                    zone_std,
                    Std::Iso8601ColonTz
                        | Std::Iso8601ColonSecondsTz
                        | Std::NumColonTz
                        | Std::NumColonSecondsTz
                );
                let short = matches!(zone_std, Std::Iso8601ShortTz | Std::NumShortTz);
                let seconds = matches!(
                    zone_std,
                    Std::Iso8601SecondsTz
                        | Std::NumSecondsTz
                        | Std::Iso8601ColonSecondsTz
                        | Std::NumColonSecondsTz
                );
                zone(&mut out, offset, colon, short, seconds);
            }
        }
    }
    out
}

/// The zone name Go prints for `MST`: the zone's abbreviation, or none for a zone that is only
/// an offset (Go's unnamed `FixedZone`).
fn go_abbreviation(z: &Zoned) -> String {
    let tz = z.time_zone();
    if tz.iana_name().is_none() && tz != &TimeZone::UTC && tz.to_fixed_offset().is_ok() {
        return String::new();
    }
    tz.to_offset_info(z.timestamp()).abbreviation().to_owned()
}

/// A zone Go makes up for an unknown abbreviation: that name, offset 0.
pub(super) fn named_zone(name: &str) -> Option<TimeZone> {
    TimeZone::posix(&format!("{name}0")).ok()
}

/// `-0700`-style offsets: sign, hours, then minutes unless `short`, seconds when asked.
fn zone(out: &mut String, offset: i32, colon: bool, short: bool, seconds: bool) {
    out.push(if offset < 0 { '-' } else { '+' });
    let abs = offset.unsigned_abs();
    out.push_str(&format!("{:02}", abs / 3600));
    if !short {
        if colon {
            out.push(':');
        }
        out.push_str(&format!("{:02}", abs / 60 % 60));
    }
    if seconds {
        if colon {
            out.push(':');
        }
        out.push_str(&format!("{:02}", abs % 60));
    }
}

/// Go's `Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST` (without the monotonic
/// clock reading Go appends to `now`).
pub(super) fn go_string(z: &Zoned) -> String {
    format(z, "2006-01-02 15:04:05.999999999 -0700 MST")
}

// ---------------------------------------------------------------------------------------------
// Parsing.

/// Go's `time.Parse` error text, without the text being parsed (it may come from a secret):
/// Go writes `parsing time "2024-x" as "2006-01-02": cannot parse "x" as "01"`, this
/// `parsing time as "2006-01-02": cannot parse the text at "01"`.
fn parse_error(layout: &str, _value: &str, elem: &str, _rest: &str, msg: &str) -> String {
    if msg.is_empty() {
        format!("parsing time as {layout:?}: cannot parse the text at {elem:?}")
    } else {
        format!("parsing time{msg}")
    }
}

/// Up to `max` digits (exactly `max` when `fixed`), as Go's `getnum`/`getnum3`.
fn number(s: &str, max: usize, fixed: bool) -> Option<(i64, &str)> {
    let n = s.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if n == 0 || (fixed && n < max) {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

fn lookup<'a>(names: &[&str], s: &'a str, len: Option<usize>) -> Option<(usize, &'a str)> {
    names.iter().enumerate().find_map(|(i, name)| {
        let name = len.map_or(*name, |l| &name[..l]);
        let head = s.get(..name.len())?;
        head.eq_ignore_ascii_case(name)
            .then(|| (i, &s[name.len()..]))
    })
}

/// Go's `time.ParseInLocation(layout, value, local)`: a time in `local` unless the value names
/// an offset or zone; `Err` carries Go's message.
pub(super) fn parse(layout: &str, value: &str, local: &TimeZone) -> Result<Zoned, String> {
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0i64);
    let mut pm: Option<bool> = None;
    let mut offset: Option<i32> = None;
    let mut zone_name: Option<String> = None;
    let mut l = layout;
    let mut v = value;
    loop {
        let (prefix, std, after) = next_chunk(l);
        let elem = &l[prefix.len()..l.len() - after.len()];
        let Some(rest) = v.strip_prefix(prefix) else {
            return Err(parse_error(layout, value, prefix, v, ""));
        };
        v = rest;
        let Some(std) = std else {
            if !v.is_empty() {
                return Err(parse_error(layout, value, "", v, ": extra text"));
            }
            break;
        };
        l = after;
        let fail = |v: &str| parse_error(layout, value, elem, v, "");
        let range = |what: &str| format!("parsing time: {what} out of range");
        let hold = v;
        match std {
            Std::LongYear => {
                let (y, r) = number(v, 4, true).ok_or_else(|| fail(hold))?;
                year = y;
                v = r;
            }
            Std::Year => {
                let (y, r) = number(v, 2, true).ok_or_else(|| fail(hold))?;
                year = if y >= 69 { y + 1900 } else { y + 2000 };
                v = r;
            }
            Std::LongMonth | Std::Month => {
                let len = (std == Std::Month).then_some(3);
                let (m, r) = lookup(&LONG_MONTHS, v, len).ok_or_else(|| fail(hold))?;
                month = i64::try_from(m).unwrap_or(0) + 1;
                v = r;
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (m, r) = number(v, 2, std == Std::ZeroMonth).ok_or_else(|| fail(hold))?;
                if !(1..=12).contains(&m) {
                    return Err(range("month"));
                }
                month = m;
                v = r;
            }
            Std::LongWeekDay | Std::WeekDay => {
                let len = (std == Std::WeekDay).then_some(3);
                v = lookup(&LONG_DAYS, v, len).ok_or_else(|| fail(hold))?.1;
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay && v.starts_with(' ') {
                    v = &v[1..];
                }
                let (d, r) = number(v, 2, std == Std::ZeroDay).ok_or_else(|| fail(hold))?;
                day = d;
                v = r;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                let mut s = v;
                if std == Std::UnderYearDay {
                    for _ in 0..2 {
                        s = s.strip_prefix(' ').unwrap_or(s);
                    }
                }
                let (d, r) = number(s, 3, std == Std::ZeroYearDay).ok_or_else(|| fail(hold))?;
                yday = d;
                v = r;
            }
            Std::Hour => {
                let (h, r) = number(v, 2, false).ok_or_else(|| fail(hold))?;
                if h > 23 {
                    return Err(range("hour"));
                }
                hour = h;
                v = r;
            }
            Std::Hour12 | Std::ZeroHour12 => {
                let (h, r) = number(v, 2, std == Std::ZeroHour12).ok_or_else(|| fail(hold))?;
                if h > 12 {
                    return Err(range("hour"));
                }
                hour = h;
                v = r;
            }
            Std::Minute | Std::ZeroMinute | Std::Second | Std::ZeroSecond => {
                let fixed = matches!(std, Std::ZeroMinute | Std::ZeroSecond);
                let (n, mut r) = number(v, 2, fixed).ok_or_else(|| fail(hold))?;
                if n > 59 {
                    let what = if matches!(std, Std::Minute | Std::ZeroMinute) {
                        "minute"
                    } else {
                        "second"
                    };
                    return Err(range(what));
                }
                if matches!(std, Std::Minute | Std::ZeroMinute) {
                    min = n;
                } else {
                    sec = n;
                    // A fraction after the seconds is read even when the layout has none.
                    let next_is_frac = matches!(next_chunk(l).1, Some(Std::Frac(..)))
                        && next_chunk(l).0.is_empty();
                    if !next_is_frac
                        && r.len() >= 2
                        && matches!(r.as_bytes()[0], b'.' | b',')
                        && r.as_bytes()[1].is_ascii_digit()
                    {
                        let n = r[1..].bytes().take_while(u8::is_ascii_digit).count();
                        nsec = frac_nanos(&r[1..=n]);
                        r = &r[1 + n..];
                    }
                }
                v = r;
            }
            Std::PM | Std::Lowerpm => {
                let (am, p) = if std == Std::PM {
                    ("AM", "PM")
                } else {
                    ("am", "pm")
                };
                if let Some(r) = v.strip_prefix(p) {
                    pm = Some(true);
                    v = r;
                } else if let Some(r) = v.strip_prefix(am) {
                    pm = Some(false);
                    v = r;
                } else {
                    return Err(fail(hold));
                }
            }
            Std::Frac(_, digits, trim) => {
                let b = v.as_bytes();
                if trim {
                    if b.len() >= 2 && matches!(b[0], b'.' | b',') && b[1].is_ascii_digit() {
                        let n = v[1..].bytes().take_while(u8::is_ascii_digit).count();
                        nsec = frac_nanos(&v[1..=n]);
                        v = &v[1 + n..];
                    }
                } else {
                    let ok = b.len() > digits
                        && matches!(b[0], b'.' | b',')
                        && b[1..=digits].iter().all(u8::is_ascii_digit);
                    if !ok {
                        return Err(fail(hold));
                    }
                    nsec = frac_nanos(&v[1..=digits]);
                    v = &v[1 + digits..];
                }
            }
            Std::Tz => {
                let n = v.bytes().take_while(u8::is_ascii_uppercase).count();
                if n < 3 {
                    return Err(fail(hold));
                }
                zone_name = Some(v[..n].to_owned());
                v = &v[n..];
            }
            zone_std => {
                let iso = matches!(
                    zone_std,
                    Std::Iso8601Tz
                        | Std::Iso8601SecondsTz
                        | Std::Iso8601ShortTz
                        | Std::Iso8601ColonTz
                        | Std::Iso8601ColonSecondsTz
                );
                if iso && let Some(r) = v.strip_prefix('Z') {
                    offset = Some(0);
                    zone_name = Some("UTC".to_owned());
                    v = r;
                    continue;
                }
                let (off, r) = parse_offset(v, zone_std).ok_or_else(|| fail(hold))?;
                offset = Some(off);
                v = r;
            }
        }
    }
    if let Some(pm) = pm {
        if pm && hour < 12 {
            hour += 12;
        } else if !pm && hour == 12 {
            hour = 0;
        }
    }
    if yday >= 0 {
        let start = jiff::civil::date(i16::try_from(year).map_err(|e| e.to_string())?, 1, 1);
        let d = start
            .checked_add(jiff::Span::new().days(yday - 1))
            .map_err(|_| "parsing time: day-of-year out of range".to_owned())?;
        if d.year() != start.year() || yday < 1 {
            return Err("parsing time: day-of-year out of range".to_owned());
        }
        month = d.month().into();
        day = d.day().into();
    }
    let month = if month < 0 { 1 } else { month };
    let day = if day < 0 { 1 } else { day };
    let to8 = |n: i64| i8::try_from(n).unwrap_or(i8::MAX);
    let dt = DateTime::new(
        i16::try_from(year).unwrap_or(i16::MAX),
        to8(month),
        to8(day),
        to8(hour),
        to8(min),
        to8(sec),
        i32::try_from(nsec).unwrap_or(0),
    )
    .map_err(|_| "parsing time: day out of range".to_owned())?;
    match (offset, zone_name) {
        (Some(0), Some(name)) if name == "UTC" => {
            dt.to_zoned(TimeZone::UTC).map_err(|e| e.to_string())
        }
        (Some(off), _) => {
            let fixed = Offset::from_seconds(off).map_err(|e| e.to_string())?;
            let ts = fixed.to_timestamp(dt).map_err(|e| e.to_string())?;
            // Go uses the local zone when it has that offset then; else a fixed zone.
            if local.to_offset(ts) == fixed {
                Ok(ts.to_zoned(local.clone()))
            } else {
                Ok(ts.to_zoned(TimeZone::fixed(fixed)))
            }
        }
        (None, Some(name)) => {
            if name == "UTC" || name == "GMT" {
                return dt.to_zoned(TimeZone::UTC).map_err(|e| e.to_string());
            }
            let z = dt.to_zoned(local.clone()).map_err(|e| e.to_string())?;
            let info = local.to_offset_info(z.timestamp());
            if info.abbreviation() == name {
                return Ok(z);
            }
            // An unknown abbreviation: a zone of that name at offset 0, as Go fabricates.
            let ts = Offset::UTC.to_timestamp(dt).map_err(|e| e.to_string())?;
            Ok(ts.to_zoned(named_zone(&name).unwrap_or(TimeZone::UTC)))
        }
        (None, None) => dt.to_zoned(local.clone()).map_err(|e| e.to_string()),
    }
}

fn frac_nanos(digits: &str) -> i64 {
    let mut n: i64 = 0;
    for (i, b) in digits.bytes().enumerate() {
        if i < 9 {
            n = n * 10 + i64::from(b - b'0');
        }
    }
    for _ in digits.len()..9 {
        n *= 10;
    }
    n
}

fn parse_offset(v: &str, std: Std) -> Option<(i32, &str)> {
    let sign = match v.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = |s: &str, at: usize| -> Option<i32> {
        let part = s.get(at..at + 2)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (h, m, s, len) = match std {
        Std::NumShortTz | Std::Iso8601ShortTz => (digits(v, 1)?, 0, 0, 3),
        Std::NumTz | Std::Iso8601Tz => (digits(v, 1)?, digits(v, 3)?, 0, 5),
        Std::NumColonTz | Std::Iso8601ColonTz => {
            (v.as_bytes().get(3) == Some(&b':')).then_some(())?;
            (digits(v, 1)?, digits(v, 4)?, 0, 6)
        }
        Std::NumSecondsTz | Std::Iso8601SecondsTz => {
            (digits(v, 1)?, digits(v, 3)?, digits(v, 5)?, 7)
        }
        _ => {
            let b = v.as_bytes();
            (b.get(3) == Some(&b':') && b.get(6) == Some(&b':')).then_some(())?;
            (digits(v, 1)?, digits(v, 4)?, digits(v, 7)?, 9)
        }
    };
    Some((sign * (h * 3600 + m * 60 + s), &v[len..]))
}

// ---------------------------------------------------------------------------------------------
// Durations.

const UNITS: [(&str, i128); 9] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("", 0),
];

/// Go's `time.ParseDuration`: nanoseconds. Go's errors quote the text; these do not (it may
/// come from a secret).
pub(super) fn parse_duration(text: &str) -> Result<i64, String> {
    let invalid = || "time: invalid duration".to_owned();
    let (neg, mut s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        if let Some(r) = s.strip_prefix('.') {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &r[..n];
            s = &r[n..];
            if int_part.is_empty() && frac_part.is_empty() {
                return Err(invalid());
            }
        } else if int_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(s.len(), |(i, _)| i);
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        if unit.is_empty() {
            return Err("time: missing unit in duration".to_owned());
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit && !u.is_empty()) else {
            return Err(format!("time: unknown unit {unit:?} in duration"));
        };
        let int: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = int.checked_mul(scale).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            let digits: i128 = frac_part[..frac_part.len().min(18)].parse().unwrap_or(0);
            let div = 10i128.pow(u32::try_from(frac_part.len().min(18)).unwrap_or(18));
            value += digits * scale / div;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i128::from(i64::MAX) + i128::from(neg) {
            return Err(invalid());
        }
    }
    let total = if neg { -total } else { total };
    i64::try_from(total).map_err(|_| invalid())
}

/// Go's `Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub(super) fn duration_string(d: i64) -> String {
    if d == 0 {
        return "0s".to_owned();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    let frac = |v: u64, prec: u32| -> String {
        let p = 10u64.pow(prec);
        let (w, f) = (v / p, v % p);
        if f == 0 {
            w.to_string()
        } else {
            let s = format!("{f:0width$}", width = prec as usize);
            format!("{w}.{}", s.trim_end_matches('0'))
        }
    };
    if u < 1_000_000_000 {
        let (v, prec, unit) = if u < 1_000 {
            (u, 0, "ns")
        } else if u < 1_000_000 {
            (u, 3, "\u{b5}s")
        } else {
            (u, 6, "ms")
        };
        out.push_str(&frac(v, prec));
        out.push_str(unit);
    } else {
        let secs_nanos = u % 60_000_000_000;
        let mins = u / 60_000_000_000;
        let (h, m) = (mins / 60, mins % 60);
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac(secs_nanos, 9));
        out.push('s');
    }
    if neg { format!("-{out}") } else { out }
}

/// Nanoseconds between two instants, saturating as Go's `Sub` does.
pub(super) fn since(now: Timestamp, t: Timestamp) -> i64 {
    let a = i128::from(now.as_second()) * 1_000_000_000 + i128::from(now.subsec_nanosecond());
    let b = i128::from(t.as_second()) * 1_000_000_000 + i128::from(t.subsec_nanosecond());
    i64::try_from(a - b).unwrap_or(if a > b { i64::MAX } else { i64::MIN })
}

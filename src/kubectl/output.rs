//! How results are printed: the output format (`-o`), colours (only on a terminal, and never
//! with `NO_COLOR` set), and ages written as kubectl writes them (`45s`, `3m20s`, `5h`, `2d`).

use std::io::{IsTerminal, Write};

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use super::KubectlError;

/// `-o`: the format of a command's result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Aligned tables for people.
    #[default]
    Table,
    /// JSON for tools.
    Json,
    /// YAML for tools.
    Yaml,
}

/// Writes a serializable result as JSON or YAML (`Table` is the caller's job).
pub fn write_structured<T: Serialize>(
    out: &mut dyn Write,
    format: Format,
    value: &T,
) -> Result<(), KubectlError> {
    match format {
        Format::Json => {
            let text = serde_json::to_string_pretty(value)
                .map_err(|e| KubectlError::Serialize(e.to_string()))?;
            writeln!(out, "{text}")?;
        }
        Format::Yaml => {
            let text = serde_yaml_ng::to_string(value)
                .map_err(|e| KubectlError::Serialize(e.to_string()))?;
            write!(out, "{text}")?;
        }
        Format::Table => {}
    }
    Ok(())
}

/// Colours for a verdict word, or none at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Palette {
    colour: bool,
}

/// What a coloured word says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Nothing special.
    Plain,
    /// All well (green).
    Good,
    /// Needs attention soon (yellow).
    Warn,
    /// Broken (red).
    Bad,
    /// Headers (bold).
    Header,
}

impl Palette {
    /// Colours when stdout is a terminal and `NO_COLOR` is unset or empty (no-color.org).
    pub fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            colour: std::io::stdout().is_terminal() && !no_color,
        }
    }

    /// No colours (files, pipes, tests).
    pub const fn plain() -> Self {
        Self { colour: false }
    }

    /// Always colours.
    pub const fn coloured() -> Self {
        Self { colour: true }
    }

    /// Whether colours are on.
    pub fn is_coloured(self) -> bool {
        self.colour
    }

    /// `text` in `tone`.
    pub fn paint(self, tone: Tone, text: &str) -> String {
        let code = match tone {
            Tone::Plain => return text.to_owned(),
            Tone::Good => "32",
            Tone::Warn => "33",
            Tone::Bad => "31",
            Tone::Header => "1",
        };
        if self.colour && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// How long ago `then` was at `now`, as kubectl's `HumanDuration` writes it.
pub fn age(then: Timestamp, now: Timestamp) -> String {
    let seconds = now.as_second() - then.as_second();
    human_duration(seconds)
}

/// A duration in seconds as kubectl writes ages.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// A Go-style duration for intervals (`1h`, `30m`, `1h30m`, `45s`).
pub fn interval(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (200, "3m20s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 25 * 60, "3h25m"),
            (10 * 3600 + 59 * 60, "10h"),
            (49 * 3600, "2d1h"),
            (72 * 3600, "3d"),
            (30 * 86400, "30d"),
            (3 * 365 * 86400 + 86400, "3y1d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (seconds, want) in cases {
            assert_eq!(human_duration(seconds), want, "{seconds}s");
        }
        let then: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let now: Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        assert_eq!(age(then, now), "5m");
    }

    #[test]
    fn intervals_read_like_go_durations() {
        assert_eq!(interval(3600), "1h");
        assert_eq!(interval(5400), "1h30m");
        assert_eq!(interval(45), "45s");
        assert_eq!(interval(0), "0s");
    }

    #[test]
    fn colours_only_when_asked() {
        assert_eq!(Palette::plain().paint(Tone::Bad, "False"), "False");
        assert_eq!(
            Palette::coloured().paint(Tone::Bad, "False"),
            "\x1b[31mFalse\x1b[0m"
        );
        assert_eq!(Palette::coloured().paint(Tone::Plain, "x"), "x");
    }

    #[test]
    fn structured_output_is_json_or_yaml() {
        let mut json = Vec::new();
        write_structured(&mut json, Format::Json, &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(String::from_utf8(json).unwrap(), "{\n  \"a\": 1\n}\n");
        let mut yaml = Vec::new();
        write_structured(&mut yaml, Format::Yaml, &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(String::from_utf8(yaml).unwrap(), "a: 1\n");
    }
}

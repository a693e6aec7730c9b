//! How a check [`Report`] is printed: for people (`file:line: severity: object: problem`, an
//! indented hint, then the keys each Secret would get), as JSON for tools, or as GitHub workflow
//! annotations (`::error file=…,line=…,title=…::message`) so problems show on the pull request's
//! diff.

use std::fmt::Write as _;

use super::{Report, Severity};

/// Output format of `stagesync check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON document: `{objects, problems, secrets}`.
    Json,
    /// GitHub Actions workflow commands, one per problem.
    Github,
}

/// Renders the report.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text(report),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(report).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Github => github(report),
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn text(report: &Report) -> String {
    let mut out = String::new();
    for p in &report.problems {
        let at = if p.line > 0 {
            format!("{}:{}", p.file, p.line)
        } else {
            p.file.clone()
        };
        let object = if p.object.is_empty() {
            String::new()
        } else {
            format!("{}: ", p.object)
        };
        let field = if p.field.is_empty() {
            String::new()
        } else {
            format!("{}: ", p.field)
        };
        let _ = writeln!(
            out,
            "{at}: {}: {object}{field}{}",
            severity(p.severity),
            p.message
        );
        if let Some(hint) = &p.hint {
            let _ = writeln!(out, "    hint: {hint}");
        }
    }
    for s in &report.secrets {
        let mut keys = s.keys.join(", ");
        for from in &s.keys_read_from {
            if !keys.is_empty() {
                keys.push_str(", ");
            }
            let _ = write!(keys, "<keys of {from}>");
        }
        if keys.is_empty() {
            keys.push_str("no keys");
        }
        let _ = writeln!(out, "{} writes Secret {}: {keys}", s.object, s.secret);
    }
    let errors = report
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let warnings = report.problems.len() - errors;
    let _ = writeln!(
        out,
        "{} stagesync object{} checked: {errors} error{}, {warnings} warning{}",
        report.objects,
        plural(report.objects),
        plural(errors),
        plural(warnings)
    );
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// GitHub's workflow-command escaping: data escapes `%`, CR and LF; properties also `:` and `,`.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn github(report: &Report) -> String {
    let mut out = String::new();
    for p in &report.problems {
        let mut props = format!("file={}", escape_property(&p.file));
        if p.line > 0 {
            let _ = write!(props, ",line={}", p.line);
        }
        let title = if p.object.is_empty() {
            "stagesync check".to_owned()
        } else {
            p.object.clone()
        };
        let _ = write!(props, ",title={}", escape_property(&title));
        let mut message = if p.field.is_empty() {
            p.message.clone()
        } else {
            format!("{}: {}", p.field, p.message)
        };
        if let Some(hint) = &p.hint {
            let _ = write!(message, "\nhint: {hint}");
        }
        let _ = writeln!(
            out,
            "::{} {props}::{}",
            severity(p.severity),
            escape_data(&message)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Problem, WouldWrite};

    fn report() -> Report {
        Report {
            objects: 2,
            problems: vec![Problem {
                file: "apps/db.yaml".into(),
                line: 12,
                object: "ExternalSecret team-a/db".into(),
                severity: Severity::Error,
                field: "spec.refreshInterval".into(),
                message: "refreshInterval \"1 hour\": invalid duration".into(),
                hint: Some("use a Go duration, e.g. 1h".into()),
            }],
            secrets: vec![WouldWrite {
                object: "ExternalSecret team-a/app".into(),
                secret: "team-a/app".into(),
                keys: vec!["password".into(), "user".into()],
                keys_read_from: vec!["shared/app".into()],
            }],
        }
    }

    #[test]
    fn text_points_at_file_and_line_and_lists_keys() {
        let t = render(&report(), Format::Text);
        assert_eq!(
            t,
            "apps/db.yaml:12: error: ExternalSecret team-a/db: spec.refreshInterval: refreshInterval \"1 hour\": invalid duration\n    hint: use a Go duration, e.g. 1h\nExternalSecret team-a/app writes Secret team-a/app: password, user, <keys of shared/app>\n2 stagesync objects checked: 1 error, 0 warnings\n"
        );
    }

    #[test]
    fn github_annotations_escape_properties_and_data() {
        let g = render(&report(), Format::Github);
        assert_eq!(
            g,
            "::error file=apps/db.yaml,line=12,title=ExternalSecret team-a/db::spec.refreshInterval: refreshInterval \"1 hour\": invalid duration%0Ahint: use a Go duration, e.g. 1h\n"
        );
    }

    #[test]
    fn json_holds_every_fact() {
        let v: serde_json::Value = serde_json::from_str(&render(&report(), Format::Json)).unwrap();
        assert_eq!(v["objects"], 2);
        assert_eq!(v["problems"][0]["line"], 12);
        assert_eq!(v["problems"][0]["severity"], "error");
        assert_eq!(
            v["secrets"][0]["keys"],
            serde_json::json!(["password", "user"])
        );
    }
}

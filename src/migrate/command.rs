//! The `stagesync migrate` command: reads the files (directories recursively, `-` for standard
//! input), migrates them together (an ExternalSecret is checked against the stores of every
//! file), then rewrites changed files in place, mirrors them under `--output-dir`, or with
//! `--dry-run` prints a unified diff and writes nothing. The report goes to standard error;
//! the exit code says how it went: 0 all translated, 1 something left untranslated (listed),
//! 2 could not run (an unreadable file, YAML that does not parse) — and then nothing is written.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use similar::TextDiff;

use super::{Input, Report, migrate};

/// Settings of `stagesync migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Files or directories (searched recursively for `.yaml` and `.yml`, hidden entries
    /// skipped); `-` reads standard input and writes the result to standard output.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Print a unified diff of what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write every migrated file under DIR, mirroring the inputs' tree, instead of in place.
    #[arg(long, value_name = "DIR", conflicts_with = "dry_run")]
    pub output_dir: Option<PathBuf>,
}

/// Exit code: everything translated.
pub const EXIT_OK: i32 = 0;
/// Exit code: something was left untranslated (the report lists it).
pub const EXIT_UNTRANSLATED: i32 = 1;
/// Exit code: could not run.
pub const EXIT_ERROR: i32 = 2;

/// One input file and where a mirrored copy goes (relative to `--output-dir`).
struct FileInput {
    input: Input,
    path: Option<PathBuf>,
    relative: PathBuf,
}

/// Runs the command; returns the exit code.
pub fn run(
    args: &MigrateArgs,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    match run_inner(args, stdin, out, err) {
        Ok(code) => code,
        Err(message) => {
            let _ = writeln!(err, "stagesync migrate: {message}");
            EXIT_ERROR
        }
    }
}

fn run_inner(
    args: &MigrateArgs,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, String> {
    let files = read_inputs(&args.paths, stdin)?;
    if files.is_empty() {
        return Err("no .yaml or .yml files found".into());
    }
    let inputs: Vec<Input> = files.iter().map(|f| f.input.clone()).collect();
    let report = match migrate(&inputs) {
        Ok(report) => report,
        Err(errors) => {
            for e in &errors {
                writeln!(err, "{e}").map_err(|e| e.to_string())?;
            }
            writeln!(err, "stagesync migrate: nothing was written").map_err(|e| e.to_string())?;
            return Ok(EXIT_ERROR);
        }
    };
    let changed = report.files.iter().filter(|f| f.text != f.original).count();
    for (file, migrated) in files.iter().zip(&report.files) {
        if args.dry_run {
            if migrated.text != migrated.original {
                let name = &migrated.name;
                let diff = TextDiff::from_lines(&migrated.original, &migrated.text);
                write!(
                    out,
                    "{}",
                    diff.unified_diff().context_radius(3).header(name, name)
                )
                .map_err(|e| e.to_string())?;
            }
        } else if file.path.is_none() {
            out.write_all(migrated.text.as_bytes())
                .map_err(|e| e.to_string())?;
        } else if let Some(dir) = &args.output_dir {
            let target = dir.join(&file.relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            std::fs::write(&target, &migrated.text)
                .map_err(|e| format!("{}: {e}", target.display()))?;
        } else if migrated.text != migrated.original
            && let Some(path) = &file.path
        {
            std::fs::write(path, &migrated.text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    write_report(&report, changed, args, err).map_err(|e| e.to_string())?;
    Ok(if report.has_untranslated() {
        EXIT_UNTRANSLATED
    } else {
        EXIT_OK
    })
}

fn write_report(
    report: &Report,
    changed: usize,
    args: &MigrateArgs,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    for finding in &report.findings {
        writeln!(err, "{finding}")?;
    }
    let untranslated = report.findings.iter().filter(|f| f.untranslated()).count();
    let notes = report.findings.len() - untranslated;
    let files = if args.dry_run {
        format!("{changed} of {} files would change", report.files.len())
    } else if let Some(dir) = &args.output_dir {
        format!(
            "{} files written under {}",
            report.files.len(),
            dir.display()
        )
    } else {
        format!("{changed} of {} files changed", report.files.len())
    };
    writeln!(
        err,
        "stagesync migrate: {} translated, {untranslated} left untranslated, {notes} notes; {files}",
        report.translated
    )
}

/// Reads every path: `-` once from `stdin`, files as given, directories recursively.
fn read_inputs(paths: &[PathBuf], stdin: &mut dyn Read) -> Result<Vec<FileInput>, String> {
    let mut out = Vec::new();
    let mut stdin_read = false;
    for path in paths {
        if path.as_os_str() == "-" {
            if stdin_read {
                return Err("`-` given twice".into());
            }
            stdin_read = true;
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .map_err(|e| format!("-: {e}"))?;
            out.push(FileInput {
                input: Input {
                    name: "-".into(),
                    text,
                },
                path: None,
                relative: PathBuf::from("stdin.yaml"),
            });
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            found.sort();
            for file in found {
                let relative = file.strip_prefix(path).unwrap_or(&file).to_path_buf();
                out.push(read_file(&file, relative)?);
            }
        } else {
            let relative = PathBuf::from(path.file_name().unwrap_or(path.as_os_str()));
            out.push(read_file(path, relative)?);
        }
    }
    Ok(out)
}

fn read_file(path: &Path, relative: PathBuf) -> Result<FileInput, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(FileInput {
        input: Input {
            name: path.display().to_string(),
            text,
        },
        path: Some(path.to_path_buf()),
        relative,
    })
}

/// `.yaml` and `.yml` files under `dir`, hidden entries skipped, symbolic links to directories
/// not followed (no loops).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
            && (kind.is_file() || path.is_file())
        {
            out.push(path);
        }
    }
    Ok(())
}

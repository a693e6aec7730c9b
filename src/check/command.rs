//! The `stagesync check` command line: arguments, and the exit code — 0 clean, 1 problems
//! (errors; warnings too with `--strict`), 2 could not run.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::aws::AwsCheckOptions;
use super::output::{Format, render};
use super::rules::RuleSettings;
use super::schema::Schemas;
use super::{CheckOptions, Severity};

/// Settings of `stagesync check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Files or directories (read recursively) of manifests; `-` reads standard input
    /// (`helm template … | stagesync check -`).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Format,
    /// Namespace of objects that do not set one (as `kubectl apply -n`).
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    /// Warnings fail the check too (exit code 1).
    #[arg(long)]
    pub strict: bool,
    /// Stores referenced but not among the manifests are a warning, not an error (stores
    /// applied from another repository).
    #[arg(long)]
    pub allow_external_stores: bool,
    /// Evaluate workloads as an operator started with `--reloader-compatible` would.
    #[arg(long)]
    pub reloader_compatible: bool,
    /// Evaluate stores as an operator started with `--allow-ambient-credentials` would.
    #[arg(long)]
    pub allow_ambient_credentials: bool,
    /// Also ask AWS (DescribeSecret only, never a value) whether each referenced secret,
    /// stage and version exists and is not scheduled for deletion. Credentials: the default
    /// AWS chain.
    #[arg(long)]
    pub aws: bool,
    /// With --aws: use this store's region, endpoint and role for every ExternalSecret.
    #[arg(long, requires = "aws")]
    pub aws_store: Option<String>,
    /// With --aws: region overriding the stores'.
    #[arg(long, requires = "aws")]
    pub aws_region: Option<String>,
    /// With --aws: Secrets Manager endpoint URL overriding the stores'.
    #[arg(long, requires = "aws")]
    pub aws_endpoint: Option<String>,
    /// With --aws: STS endpoint URL for assuming a store's role.
    #[arg(long, requires = "aws")]
    pub aws_sts_endpoint: Option<String>,
}

/// Runs a check; returns the exit code.
pub async fn run(args: &CheckArgs, out: &mut impl Write, err: &mut impl Write) -> i32 {
    let sources = match crate::manifest::read_sources(&args.paths) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "stagesync check: {e}");
            return 2;
        }
    };
    let schemas = match Schemas::new() {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "stagesync check: {e}");
            return 2;
        }
    };
    let options = CheckOptions {
        default_namespace: args.namespace.clone(),
        rules: RuleSettings {
            allow_external_stores: args.allow_external_stores,
            reloader_compatible: args.reloader_compatible,
            allow_ambient_credentials: args.allow_ambient_credentials,
        },
    };
    let report = if args.aws {
        let aws = AwsCheckOptions {
            store: args.aws_store.clone(),
            region: args.aws_region.clone(),
            endpoint: args.aws_endpoint.clone(),
            sts_endpoint: args.aws_sts_endpoint.clone(),
        };
        super::check_with_aws(&sources, &schemas, &options, &aws).await
    } else {
        super::check(&sources, &schemas, &options)
    };
    if out
        .write_all(render(&report, args.output).as_bytes())
        .is_err()
    {
        return 2;
    }
    let failing = report
        .problems
        .iter()
        .any(|p| p.severity == Severity::Error || args.strict);
    i32::from(failing)
}

//! `kubectl stagesync`: the kubectl plugin (kubectl runs any `kubectl-*` binary on the PATH).
//! Flags are parsed here; everything else is in `stagesync::kubectl`. Exit codes: 0 all well,
//! 1 a problem found or the sync failed, 2 the command could not run.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use k8s_openapi::jiff::Timestamp;
use stagesync::api::duration::parse_go_duration;
use stagesync::kubectl::connect::{ClusterOptions, connect};
use stagesync::kubectl::output::{Format, Palette, write_structured};
use stagesync::kubectl::status::GatherOptions;
use stagesync::kubectl::{Verdict, show, status, sync, why};

/// Status, forced refresh and failure explanations of stagesync ExternalSecrets.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-stagesync",
    bin_name = "kubectl stagesync",
    version,
    about
)]
struct Cli {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long, global = true)]
    context: Option<String>,
    /// Namespace (default: the context's namespace).
    #[arg(short = 'n', long, global = true)]
    namespace: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Per ExternalSecret: store, versions, rotation, Secret, workloads to restart; per store:
    /// mode, calls and estimated cost.
    Status(StatusArgs),
    /// Force a refresh from AWS (the force-sync annotation) and wait until Ready or failed.
    Sync(SyncArgs),
    /// Explain the last failure of an ExternalSecret and how to fix it.
    Why(WhyArgs),
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// One ExternalSecret (default: every one in the namespace).
    name: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long, conflicts_with = "name")]
    all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// The operator runs with --reloader-compatible (Reloader's annotations count).
    #[arg(long)]
    reloader_compatible: bool,
    /// The operator's --rollout-deadline (Go duration).
    #[arg(long, default_value = "10m")]
    rollout_deadline: String,
}

#[derive(Debug, Args)]
struct SyncArgs {
    /// The ExternalSecret.
    name: String,
    /// How long to wait for the operator (Go duration).
    #[arg(long, default_value = "2m")]
    timeout: String,
}

#[derive(Debug, Args)]
struct WhyArgs {
    /// The ExternalSecret.
    name: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    Table,
    Json,
    Yaml,
}

impl From<Output> for Format {
    fn from(o: Output) -> Self {
        match o {
            Output::Table => Format::Table,
            Output::Json => Format::Json,
            Output::Yaml => Format::Yaml,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(verdict) => ExitCode::from(verdict.exit_code()),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<Verdict> {
    let connection = connect(&ClusterOptions {
        kubeconfig: cli.kubeconfig.clone(),
        context: cli.context.clone(),
    })
    .await?;
    let client = &connection.client;
    let palette = Palette::detect();
    let now = Timestamp::now();
    let mut stdout = std::io::stdout().lock();
    let verdict = match cli.command {
        Command::Status(args) => {
            let scope = connection.scope(cli.namespace.as_deref(), args.all_namespaces);
            let options = GatherOptions {
                reloader_compatible: args.reloader_compatible,
                rollout_deadline: parse_go_duration(&args.rollout_deadline)
                    .context("--rollout-deadline")?,
            };
            let report =
                status::gather(client, &scope, args.name.as_deref(), &options, now).await?;
            match Format::from(args.output) {
                Format::Table => write!(
                    stdout,
                    "{}",
                    show::render(&report, args.all_namespaces, palette, now)
                )?,
                format => write_structured(&mut stdout, format, &report)?,
            }
            Verdict::from_problem(report.has_problems())
        }
        Command::Sync(args) => {
            let timeout = parse_go_duration(&args.timeout).context("--timeout")?;
            let namespace = connection.namespace(cli.namespace.as_deref());
            let mut stderr = std::io::stderr();
            let live = stderr.is_terminal();
            let mut progress = sync::Progress {
                out: &mut stderr,
                live,
            };
            sync::sync(
                client,
                &namespace,
                &args.name,
                now,
                timeout,
                &mut stdout,
                &mut progress,
                palette,
            )
            .await?
        }
        Command::Why(args) => {
            let namespace = connection.namespace(cli.namespace.as_deref());
            let report = why::gather(client, &namespace, &args.name).await?;
            match Format::from(args.output) {
                Format::Table => write!(stdout, "{}", why::render(&report, palette, now))?,
                format => write_structured(&mut stdout, format, &report)?,
            }
            report.verdict()
        }
    };
    stdout.flush()?;
    Ok(verdict)
}

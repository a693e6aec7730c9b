//! The `stagesync` command line: parsing and dispatch. `main.rs` only calls [`run`].

use std::io::Write;

use clap::{Parser, Subcommand};

/// stagesync keeps Kubernetes Secrets in sync with AWS Secrets Manager.
#[derive(Debug, Parser)]
#[command(name = "stagesync", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What the binary can do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print every stagesync CRD as multi-document YAML (identical to `crds/*.yaml`).
    Crds,
    /// Print the stagesync version.
    Version,
}

/// Runs a parsed command, writing its output to `out`.
pub fn run(cli: Cli, out: &mut impl Write) -> std::io::Result<()> {
    match cli.command {
        Command::Crds => out.write_all(crate::api::crds_yaml().as_bytes()),
        Command::Version => writeln!(out, "stagesync {}", env!("CARGO_PKG_VERSION")),
    }
}

//! `apiserver-fake`: serve the in-memory Kubernetes API server fake on loopback.
//!
//! ```text
//! apiserver-fake --listen 127.0.0.1:0 --kubeconfig PATH [--crds DIR]... [--faults FILE] [--tls] [--token TOKEN]
//! ```
//! Prints `listening on http(s)://127.0.0.1:PORT` as its first stdout line once it
//! accepts connections; exits cleanly on SIGTERM/SIGINT.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use apiserver_fake::{FakeApiServer, Faults, Options};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "apiserver-fake",
    version,
    about = "In-memory Kubernetes API server fake"
)]
struct Cli {
    /// Address to listen on (port 0: pick a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to write the generated kubeconfig.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Directory of CRD YAML files to create at start (repeatable).
    #[arg(long = "crds")]
    crds: Vec<PathBuf>,
    /// Fault rules (YAML or JSON list), see README.
    #[arg(long)]
    faults: Option<PathBuf>,
    /// Serve HTTPS with a CA generated at start (written into the kubeconfig).
    #[arg(long)]
    tls: bool,
    /// Require this bearer token (written into the kubeconfig).
    #[arg(long)]
    token: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let faults = match &cli.faults {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading faults file {}", p.display()))?;
            Faults::parse(&text).map_err(|e| anyhow::anyhow!("faults file {}: {e}", p.display()))?
        }
        None => Vec::new(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let result = rt.block_on(async move {
        // Handlers first: a signal right after the "listening" line must not kill us.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let fake = FakeApiServer::start(Options {
            token: cli.token.clone(),
            crd_dirs: cli.crds.clone(),
            faults,
            ..Default::default()
        })
        .context("starting the fake")?;
        let ep = fake
            .serve_http_with_kubeconfig(cli.listen, cli.tls, &cli.kubeconfig)
            .await
            .context("listening")?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on {}", ep.url)?;
            out.flush()?;
        }
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        fake.shutdown();
        anyhow::Ok(())
    });
    // Do not wait on connection tasks still unwinding.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

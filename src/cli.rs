//! The `stagesync` command line: parsing and dispatch. `main.rs` only calls [`run`].

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use futures::FutureExt;
use regex::Regex;

use crate::api::duration::parse_go_duration;
use crate::controller::{Context, ControllerConfig};
use crate::http::Health;
use crate::leader::{LeaderConfig, default_identity, default_namespace, run_elected};
use crate::provider::aws::Timeouts;
use crate::resolve::TrackingSettings;
use crate::resolve::cache::CacheLimits;
use crate::restart::RestartConfig;
use crate::store::{StorePolicy, StoreRegistry, aws_backend_factory};
use crate::telemetry::LogFormat;

/// stagesync keeps Kubernetes Secrets in sync with AWS Secrets Manager.
#[derive(Debug, Parser)]
#[command(name = "stagesync", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// What the binary can do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the operator.
    Run(Box<RunArgs>),
    /// Print every stagesync CRD as multi-document YAML (identical to `crds/*.yaml`).
    Crds,
    /// Print the stagesync version.
    Version,
    /// Rewrite ESO manifests (AWS Secrets Manager) and Reloader-annotated workloads as stagesync
    /// ones, in place; `--dry-run` prints the diff. Exit code 0: all translated, 1: something
    /// left untranslated (listed), 2: could not run.
    Migrate(crate::migrate::MigrateArgs),
    /// Validate stagesync manifests offline (schemas, CEL rules and the operator's own run-time
    /// rules), optionally against AWS metadata. Exit code 0: clean, 1: problems, 2: could not
    /// run.
    Check(crate::check::command::CheckArgs),
}

/// Settings of `stagesync run` (each also from an environment variable).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Kubeconfig file; default: in-cluster config, then $KUBECONFIG, then ~/.kube/config.
    #[arg(long, env = "STAGESYNC_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespaces to watch (repeat or comma-separate); default: all namespaces.
    #[arg(
        long = "namespace",
        env = "STAGESYNC_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,
    /// ExternalSecrets reconciled at once.
    #[arg(long, env = "STAGESYNC_CONCURRENCY", default_value_t = 4)]
    pub concurrency: u16,
    /// Refresh interval of ExternalSecrets that do not set one (Go duration).
    #[arg(long, env = "STAGESYNC_DEFAULT_REFRESH_INTERVAL", default_value = "1h", value_parser = go_duration)]
    pub default_refresh_interval: Duration,
    /// How often stores' credentials are checked again (Go duration).
    #[arg(long, env = "STAGESYNC_STORE_REFRESH_INTERVAL", default_value = "10m", value_parser = go_duration)]
    pub store_refresh_interval: Duration,
    /// Log format.
    #[arg(long, env = "STAGESYNC_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "STAGESYNC_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Let namespaced SecretStores without auth use the operator's own AWS identity (off by
    /// default: it would lend every tenant the operator's identity).
    #[arg(long, env = "STAGESYNC_ALLOW_AMBIENT_CREDENTIALS")]
    pub allow_ambient_credentials: bool,
    /// Regular expression the whole ARN of a store's role must match; default: any role.
    #[arg(long, env = "STAGESYNC_ALLOWED_ROLES")]
    pub allowed_roles: Option<String>,
    /// STS endpoint URL for assuming roles (private STS endpoints, tests).
    #[arg(long, env = "STAGESYNC_STS_ENDPOINT")]
    pub sts_endpoint: Option<String>,
    /// Timeout of one AWS call attempt (Go duration).
    #[arg(long, env = "STAGESYNC_AWS_TIMEOUT", default_value = "10s", value_parser = go_duration)]
    pub aws_timeout: Duration,
    /// Attempts per AWS call (SDK standard retry: exponential backoff with jitter).
    #[arg(long, env = "STAGESYNC_AWS_MAX_ATTEMPTS", default_value_t = 3)]
    pub aws_max_attempts: u32,
    /// A version carrying AWSPENDING without becoming AWSCURRENT for longer than this is a
    /// stuck rotation: `RotationHealthy=False`, a Warning event and a metric (Go duration).
    #[arg(long, env = "STAGESYNC_ROTATION_STUCK_AFTER", default_value = "1h", value_parser = go_duration)]
    pub rotation_stuck_after: Duration,
    /// In list mode, every tracked secret is also confirmed with DescribeSecret at least this
    /// often: the staleness bound should ListSecrets keep answering from a stale view (Go
    /// duration).
    #[arg(long, env = "STAGESYNC_LIST_CONFIRM_INTERVAL", default_value = "24h", value_parser = go_duration)]
    pub list_confirm_interval: Duration,
    /// Re-run every ExternalSecret at least this often even when no version changed, as a
    /// safety net (Go duration).
    #[arg(long, env = "STAGESYNC_RESYNC_FLOOR", default_value = "10m", value_parser = go_duration)]
    pub resync_floor: Duration,
    /// Most bytes of secret values each store's cache holds in memory.
    #[arg(long, env = "STAGESYNC_VALUE_CACHE_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub value_cache_bytes: usize,
    /// Restart workloads annotated `stagesync.io/reload` when their Secrets' data changes
    /// (`false`: workloads are neither watched nor touched, and need no RBAC).
    #[arg(long, env = "STAGESYNC_RESTARTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub restarts: bool,
    /// Longest wait for more Secrets of one workload to change before its one rollout; the wait
    /// ends sooner once every Secret being rewritten is written (Go duration).
    #[arg(long, env = "STAGESYNC_RESTART_DEBOUNCE", default_value = "5s", value_parser = go_duration)]
    pub restart_debounce: Duration,
    /// Rollouts started per minute, cluster-wide; the rest wait in order, none is dropped.
    #[arg(long, env = "STAGESYNC_MAX_ROLLOUTS_PER_MINUTE", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rollouts_per_minute: u32,
    /// A rollout not finished this long after stagesync started it is reported stuck
    /// (Deployments also by their own progressDeadlineSeconds) (Go duration).
    #[arg(long, env = "STAGESYNC_ROLLOUT_DEADLINE", default_value = "10m", value_parser = go_duration)]
    pub rollout_deadline: Duration,
    /// Also honour stakater Reloader's annotations (`reloader.stakater.com/auto`,
    /// `secret.reloader.stakater.com/auto`, `secret.reloader.stakater.com/reload`,
    /// `reloader.stakater.com/ignore`), on Secrets stagesync does not manage too.
    #[arg(long, env = "STAGESYNC_RELOADER_COMPATIBLE")]
    pub reloader_compatible: bool,
    /// With --reloader-compatible: label selector narrowing which unmanaged Secrets are watched
    /// (default: all of them in the watched namespaces).
    #[arg(long, env = "STAGESYNC_RELOADER_SECRET_SELECTOR")]
    pub reloader_secret_selector: Option<String>,
    /// Controller class: handle only stores whose `spec.controller` is this class (and stores
    /// without one), so stagesync can run beside ESO during a migration.
    #[arg(long, env = "STAGESYNC_CONTROLLER_CLASS")]
    pub controller_class: Option<String>,
    /// Elect a leader among the replicas on a Lease: only the leader runs the controllers, the
    /// others are ready standbys (`false`: this process always runs them — one replica only).
    #[arg(long, env = "STAGESYNC_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Name of the leader Lease.
    #[arg(
        long,
        env = "STAGESYNC_LEADER_ELECT_LEASE_NAME",
        default_value = "stagesync"
    )]
    pub leader_elect_lease_name: String,
    /// Namespace of the leader Lease; default: the pod's namespace (`POD_NAMESPACE`, the
    /// service account's namespace), else the kubeconfig's.
    #[arg(long, env = "POD_NAMESPACE")]
    pub leader_elect_namespace: Option<String>,
    /// How long the lease lasts after its last renewal: a standby takes over a dead leader
    /// within this time (Go duration, at least 3s).
    #[arg(long, env = "STAGESYNC_LEADER_ELECT_LEASE_DURATION", default_value = "15s", value_parser = go_duration)]
    pub leader_elect_lease_duration: Duration,
    /// Benchmark baseline only: no version tracker and no cache, every refresh re-reads every
    /// value (what ESO does). Never use it in production.
    #[arg(long, env = "STAGESYNC_NAIVE_REFRESH", hide = true)]
    pub naive_refresh: bool,
}

fn go_duration(s: &str) -> Result<Duration, String> {
    parse_go_duration(s).map_err(|e| e.to_string())
}

/// Runs a parsed command, writing its output to `out`.
pub async fn run(cli: Cli, out: &mut (impl Write + Send)) -> anyhow::Result<()> {
    match cli.command {
        Command::Crds => out.write_all(crate::api::crds_yaml().as_bytes())?,
        Command::Version => writeln!(out, "stagesync {}", env!("CARGO_PKG_VERSION"))?,
        Command::Run(args) => run_operator(*args, shutdown_signal().boxed()).await?,
        Command::Check(args) => {
            let code = crate::check::command::run(&args, out, &mut std::io::stderr()).await;
            out.flush()?;
            if code != 0 {
                std::process::exit(code);
            }
        }
        Command::Migrate(args) => {
            let code = crate::migrate::run(
                &args,
                &mut std::io::stdin().lock(),
                out,
                &mut std::io::stderr(),
            );
            out.flush()?;
            if code != 0 {
                std::process::exit(code);
            }
        }
    }
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Runs the operator until `shutdown` resolves.
pub async fn run_operator(
    args: RunArgs,
    shutdown: futures::future::BoxFuture<'static, ()>,
) -> anyhow::Result<()> {
    crate::telemetry::init(args.log_format);
    let listener = crate::http::bind(args.metrics_addr)
        .await
        .map_err(|e| anyhow::anyhow!("--metrics-addr {}: {e}", args.metrics_addr))?;
    let health = Arc::new(Health::default());
    let client = kube_client(args.kubeconfig.as_deref(), health.metrics.open_watches()).await?;
    let allowed_roles = args
        .allowed_roles
        .as_deref()
        .map(|re| Regex::new(&format!("^(?:{re})$")))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--allowed-roles is not a valid regular expression: {e}"))?;
    let policy = StorePolicy {
        allow_ambient_credentials_in_namespaced_stores: args.allow_ambient_credentials,
        allowed_roles,
        sts_endpoint: args.sts_endpoint.clone(),
        timeouts: Timeouts {
            attempt: args.aws_timeout,
            operation: args.aws_timeout * 3,
            ..Timeouts::default()
        },
        max_attempts: args.aws_max_attempts,
        tracking: TrackingSettings {
            naive: args.naive_refresh,
            cache: CacheLimits {
                max_bytes: args.value_cache_bytes,
                ..CacheLimits::default()
            },
            list_confirm_interval: args.list_confirm_interval,
            rotation_stuck_after: args.rotation_stuck_after,
            ..TrackingSettings::default()
        },
    };
    let config = ControllerConfig {
        default_refresh_interval: args.default_refresh_interval,
        store_refresh_interval: args.store_refresh_interval,
        concurrency: args.concurrency,
        namespaces: args.namespaces.clone(),
        resync_floor: args.resync_floor,
        restart: RestartConfig {
            enabled: args.restarts,
            debounce: args.restart_debounce,
            max_rollouts_per_minute: args.max_rollouts_per_minute,
            reloader_compatible: args.reloader_compatible,
            reloader_secret_selector: args.reloader_secret_selector.clone(),
            rollout_deadline: args.rollout_deadline,
        },
        controller_class: args.controller_class.clone(),
        ..ControllerConfig::default()
    };
    let stores = StoreRegistry::new(
        client.clone(),
        policy,
        aws_backend_factory(),
        health.metrics.clone(),
    );
    let mut ctx = Context::new(client.clone(), stores, config, health.metrics.clone());
    ctx.ready = health.ready.clone();
    let ctx = Arc::new(ctx);
    let shutdown = shutdown.shared();
    let server = tokio::spawn(crate::http::serve(
        listener,
        health.clone(),
        shutdown.clone(),
    ));
    tracing::info!(version = env!("CARGO_PKG_VERSION"), namespaces = ?args.namespaces, "stagesync starting");
    let leader = LeaderConfig {
        enabled: args.leader_elect,
        namespace: args
            .leader_elect_namespace
            .clone()
            .unwrap_or_else(|| default_namespace(&client)),
        lease_name: args.leader_elect_lease_name.clone(),
        lease_duration: args.leader_elect_lease_duration,
        identity: default_identity(),
    };
    let metrics = health.metrics.clone();
    let elected = run_elected(
        client,
        leader,
        health.ready.clone(),
        move |leading| metrics.set_leader(leading),
        shutdown.clone(),
        |stop| crate::controller::run(ctx, stop),
    )
    .await;
    if let Err(err) = elected {
        tracing::error!(error = %err, "stopping");
        return Err(err.into());
    }
    tracing::info!("stagesync stopped");
    server.await??;
    Ok(())
}

/// The operator's kube client, its open watches counted into `open_watches`.
async fn kube_client(
    kubeconfig: Option<&std::path::Path>,
    open_watches: prometheus_client::metrics::gauge::Gauge,
) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&crate::watches::CountWatches::new(open_watches))
        .build())
}

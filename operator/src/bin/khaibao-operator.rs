//! `khaibao-operator`: reconciles Platforms and Tenants. Configuration comes from flags or the
//! matching environment variables; logs are JSON lines (or text with `--log-format text`).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use khaibao::controller::{Settings, run};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "khaibao-operator",
    version,
    about = "Reconciles khaibao Platforms and Tenants"
)]
struct Args {
    /// Tenants reconciled at once
    #[arg(long, env = "KHAIBAO_CONCURRENCY", default_value_t = 16)]
    concurrency: u16,
    /// Kinds tenant objects may have, watched metadata-only (apiVersion/Kind, comma-separated)
    #[arg(
        long,
        env = "KHAIBAO_WATCH_KINDS",
        value_delimiter = ',',
        default_value = "v1/ConfigMap,v1/Secret,v1/Service,networking.k8s.io/v1/Ingress,networking.k8s.io/v1/NetworkPolicy,apps/v1/Deployment"
    )]
    watch_kinds: Vec<String>,
    /// Seconds between checks of an up-to-date tenant (reads only, no writes)
    #[arg(long, env = "KHAIBAO_RESYNC_SECONDS", default_value_t = 600)]
    resync_seconds: u64,
    /// Address of /healthz, /readyz and /metrics
    #[arg(long, env = "KHAIBAO_METRICS_ADDR", default_value = "127.0.0.1:8080")]
    metrics_addr: SocketAddr,
    #[arg(
        long,
        env = "KHAIBAO_LEASE_NAMESPACE",
        default_value = "khaibao-system"
    )]
    lease_namespace: String,
    #[arg(long, env = "KHAIBAO_LEASE_NAME", default_value = "khaibao-operator")]
    lease_name: String,
    /// This replica's identity in the Lease (defaults to the host name and process id)
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Run as the only replica, without a Lease
    #[arg(long)]
    no_leader_election: bool,
    #[arg(long, env = "KHAIBAO_LOG_FORMAT", default_value = "json")]
    log_format: String,
    /// The only namespaces where Secrets are read and written (comma-separated; the platforms'
    /// namespaces). Without it, Secrets are watched cluster-wide
    #[arg(long, env = "KHAIBAO_SECRET_NAMESPACES", value_delimiter = ',')]
    secret_namespaces: Option<Vec<String>>,
    /// Render platforms at this renderer epoch instead of the newest: upgrade the operator with
    /// the previous epoch pinned (nothing is rewritten), then unpin to send the new output
    /// through each platform's waves when it suits
    #[arg(long, env = "KHAIBAO_RENDERER_EPOCH", default_value_t = khaibao::pipeline::RENDERER_EPOCH,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(khaibao::pipeline::RENDERER_EPOCH)))]
    renderer_epoch: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,kube=warn"));
    if args.log_format == "text" {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_env_filter(filter)
            .init();
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut watch_kinds = Vec::new();
    for k in &args.watch_kinds {
        let Some((api_version, kind)) = k.rsplit_once('/') else {
            anyhow::bail!("--watch-kinds entry {k:?} must be apiVersion/Kind, e.g. v1/ConfigMap");
        };
        watch_kinds.push((api_version.to_string(), kind.to_string()));
    }
    let identity = args.identity.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    run(Settings {
        concurrency: args.concurrency,
        watch_kinds,
        resync: Duration::from_secs(args.resync_seconds),
        metrics_addr: args.metrics_addr,
        lease_namespace: args.lease_namespace,
        lease_name: args.lease_name,
        identity,
        no_leader_election: args.no_leader_election,
        renderer_epoch: args.renderer_epoch,
        secret_namespaces: args.secret_namespaces.map(|list| {
            list.into_iter()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect()
        }),
    })
    .await
}

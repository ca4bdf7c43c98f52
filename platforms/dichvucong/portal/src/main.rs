//! The dichvucong portal: one process serves every province's and commune's page by `Host`,
//! from the ConfigMaps and Secrets khaibao renders for each tenant in the platform namespace.
//! A declared unit is online as soon as its objects are applied; nothing restarts.

mod index;
mod metrics;
mod page;
mod server;
mod site;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
#[command(
    version,
    about = "Serves every dichvucong tenant's page by Host, read live from the cluster"
)]
struct Args {
    /// Address to serve pages, /healthz, /readyz and /metrics on.
    #[arg(long, env = "PORTAL_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Namespace of the platform's objects (default: the kubeconfig's or the pod's namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    namespace: Option<String>,
    /// Which ConfigMaps and Secrets are tenants': khaibao labels every tenant object with its
    /// platform and its tenant (shared objects have no tenant label).
    #[arg(
        long,
        env = "TENANT_LABEL_SELECTOR",
        default_value = "khaibao.dev/platform=dichvucong,khaibao.dev/tenant"
    )]
    selector: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes client: set KUBECONFIG or run in a pod with a ServiceAccount")?;
    let namespace = args
        .namespace
        .unwrap_or_else(|| client.default_namespace().to_string());
    let app = Arc::new(server::App::new(Arc::new(vietnam_today)));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    // The bound address on stdout, so that whoever started the portal on port 0 can find it.
    println!("listening on {}", listener.local_addr()?);
    tracing::info!(%namespace, selector = %args.selector, "watching tenant ConfigMaps and Secrets");
    let watching = tokio::spawn(watch::run(client, namespace, args.selector, app.clone()));
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        served = server::serve(listener, app) => served.context("serving")?,
        _ = watching => anyhow::bail!("the watch of tenant objects ended"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; stopping"),
        _ = terminate.recv() => tracing::info!("terminated; stopping"),
    }
    Ok(())
}

/// Today in Vietnam, where a transition's last day is counted: UTC+7 all year (no summer time),
/// so no time-zone database is needed.
fn vietnam_today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive()
}

//! The CLI against a cluster: `apply`, `diff`, `status`. Connection settings follow kubectl
//! (`--kubeconfig`, `--context`, `KUBECONFIG`). The same pipeline renders what is compared or
//! applied, so nothing reaches the cluster that `khaibao validate` would refuse.

pub mod apply;
pub mod approve;
pub mod diff;
pub mod province;
pub mod reform;
pub mod report;
pub mod rollout;
pub mod status;

use std::path::PathBuf;

use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// kubectl-style connection flags.
#[derive(Args, Clone, Debug, Default)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: KUBECONFIG or ~/.kube/config)
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

impl ClusterArgs {
    /// A client, or a message saying how to point khaibao at a cluster.
    pub async fn client(&self) -> Result<Client, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        let config = match &self.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| format!("{}: cannot read kubeconfig: {e}", path.display()))?;
                Config::from_custom_kubeconfig(kc, &options).await.map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => Config::from_kubeconfig(&options).await.map_err(|e| {
                format!("no cluster configured ({e}); set KUBECONFIG, pass --kubeconfig FILE, or use the offline commands (validate, render, test)")
            })?,
        };
        Client::try_from(config).map_err(|e| format!("cannot create a client: {e}"))
    }
}

/// One tokio runtime for a cluster command: the CLI is otherwise synchronous.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    match runtime {
        Ok(r) => r.block_on(f),
        // No threads or I/O driver from the OS: nothing the command could do; said plainly
        // with exit code 1.
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1)
        }
    }
}

/// Runs `f` with a client on a fresh runtime. A cluster that cannot be reached is a usage
/// error (exit 2) with the reason and how to point khaibao at one.
pub fn with_client<F, Fut>(cluster: &ClusterArgs, f: F) -> u8
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = u8>,
{
    block_on(async {
        match cluster.client().await {
            Ok(c) => f(c).await,
            Err(e) => {
                eprintln!("error: {e}");
                crate::commands::USAGE
            }
        }
    })
}

/// Prints a command's outcome: the message on stdout (exit 0), or the error on stderr (exit 1).
pub fn print_outcome(result: Result<String, String>) -> u8 {
    match result {
        Ok(msg) => {
            println!("{msg}");
            0
        }
        Err(msg) => {
            eprintln!("error: {msg}");
            crate::commands::INVALID
        }
    }
}

/// Explains a kube error in a sentence (connection refused, forbidden, missing CRDs).
pub fn explain(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s)
            if s.code == 404
                && s.message
                    .contains("the server could not find the requested resource") =>
        {
            "the khaibao CRDs are not installed: kubectl apply -f charts/khaibao/crds/".to_string()
        }
        kube::Error::Api(s) if s.code == 403 => format!("forbidden: {}", s.message),
        kube::Error::Api(s) => format!("{} ({})", s.message, s.reason),
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            format!("cannot reach the cluster: {e}")
        }
        other => other.to_string(),
    }
}

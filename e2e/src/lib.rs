//! The khaibao end-to-end harness. Everything runs against a real control plane (etcd,
//! kube-apiserver and kube-controller-manager as local processes, see `e2e/README.md`) and the
//! real `khaibao-operator` binary as a child process: nothing is mocked.
//!
//! - [`ControlPlane`] starts a private control plane in a fresh temp state dir through
//!   `e2e/start-controlplane.sh`, installs the CRDs and the `khaibao-system` namespace, and
//!   stops everything on drop (also on panic, and through a watchdog if the test process dies).
//! - [`Operator`] runs `khaibao-operator` (from `KHAIBAO_OPERATOR_BIN` or
//!   `target/debug/khaibao-operator`; this crate never builds it) with its logs in the state dir,
//!   and can kill -9 and restart it and read its `/metrics`.
//! - [`Scope`] gives a test a platform, namespaces and tenants of its own and cleans them up.
//! - [`with_shared`] runs a test on the control plane + operator shared by its test binary;
//!   [`with_cluster`] gives a (destructive) test a control plane of its own.
//!
//! The vocabulary the scenarios in `tests/` are written in:
//! - start the plane: [`with_shared`], [`with_cluster`], [`ControlPlane::scope`];
//! - install the chart's parts: [`province_policy`] (admission policy and grants),
//!   [`chart_rbac`] (ServiceAccount and RBAC, minus a rule), [`values_policy`] (a platform's
//!   generated schema policy);
//! - declare tenants: [`Scope`] (platform, provinces, TenantSets), [`tenant_sets`];
//! - run the CLI: [`khaibao`] ([`cli`]);
//! - wait for conditions: [`wait_until`], [`Scope::wait_ready`], [`Scope::wait_tenant_set`];
//! - assert objects: [`Scope::objects`], [`object_versions`], [`events`],
//!   [`assert_no_secret_leaks`], [`chromium`] (a page rendered by a browser).

pub mod chaos;
pub mod chart_rbac;
pub mod chromium;
pub mod cli;
mod controlplane;
pub mod events;
mod fixtures;
pub mod http;
mod operator;
pub mod peers;
pub mod portal;
pub mod prometheus;
pub mod province_policy;
pub mod reform;
pub mod rollouts;
pub mod scale;
pub mod tenant_sets;
pub mod timeline;
pub mod values_policy;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::FutureExt;

pub use cli::{CliRun, khaibao};
pub use controlplane::ControlPlane;
pub use fixtures::{
    OBJECTS_PER_TENANT, Obj, PLATFORM_DIR, PROVINCES_DIR, SHARED_OBJECTS, Scope,
    assert_no_secret_leaks, assert_no_secret_leaks_in, conditions_summary, events_text, is_true,
    object_versions, platform_condition, platform_manifest, platform_revision,
    portal_config_values, read_manifests, secret_data, tenant_condition, tenant_label,
    tenant_ready, tenant_ready_on,
};
pub use operator::{Operator, OperatorOptions, cli_binary, operator_binary, tail, target_dir};

/// The workspace root (`/work/main`), where `charts/`, `examples/` and `platforms/` live.
pub fn workspace_root() -> PathBuf {
    // Cargo sets CARGO_MANIFEST_DIR to the absolute path of e2e/, inside the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ has a parent")
        .to_path_buf()
}

/// The `e2e/` folder with the control-plane scripts.
pub fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One runtime for every test of a binary: a kube `Client` made in one test stays usable in
/// another, and `block_on` from several test threads at once is fine on a multi-thread runtime.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime")
});

/// Polls `check` every 250 ms until it returns `Ok(())`; fails after `timeout` with the last
/// reason `check` gave. Returns how long it took.
pub async fn wait_until(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    loop {
        let last = match check().await {
            Ok(()) => return Ok(start.elapsed()),
            Err(e) => e,
        };
        if start.elapsed() >= timeout {
            anyhow::bail!(
                "timed out after {:.0?} waiting for {what}; last check: {last:#}",
                timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs `test` with a control plane of its own (for destructive tests: kill -9, API server
/// outage, several operator replicas). The control plane is stopped afterwards; when the test
/// fails its state dir (logs of every component and operator) is kept and printed.
pub fn with_cluster(test: impl AsyncFnOnce(&ControlPlane) -> anyhow::Result<()>) {
    if let Err(e) = operator_binary() {
        panic!("{e:#}");
    }
    RUNTIME.block_on(async {
        let cp = match ControlPlane::start() {
            Ok(cp) => cp,
            Err(e) => panic!("could not start the control plane: {e:#}"),
        };
        let result = AssertUnwindSafe(test(&cp)).catch_unwind().await;
        finish(&cp, result);
    });
}

/// The control plane and the one operator shared by the tests of a binary. Tests that share it
/// are independent: each uses a platform and namespaces of its own (see [`Scope`]).
pub struct Shared {
    pub cp: ControlPlane,
    pub operator: Mutex<Option<Operator>>,
}

impl Shared {
    fn shutdown(&self) {
        if let Ok(mut op) = self.operator.lock() {
            op.take();
        }
        self.cp.shutdown();
    }

    /// The shared operator's log file.
    pub fn operator_log(&self) -> Option<PathBuf> {
        self.operator.lock().ok()?.as_ref().map(|o| o.log_path())
    }

    /// The shared operator's metrics address.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.operator
            .lock()
            .ok()?
            .as_ref()
            .map(|o| o.metrics_addr())
    }
}

static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();

unsafe extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
}

/// Statics are never dropped: stop the shared control plane when the test binary exits
/// (libtest returns from `main` or calls `exit`, both run `atexit` handlers).
extern "C" fn shutdown_shared() {
    if let Some(Ok(shared)) = SHARED.get() {
        shared.shutdown();
    }
}

fn shared() -> &'static Shared {
    let shared = SHARED.get_or_init(|| {
        operator_binary().map_err(|e| format!("{e:#}"))?;
        RUNTIME.block_on(async {
            let cp = ControlPlane::start().map_err(|e| format!("{e:#}"))?;
            let op = Operator::start(&cp, OperatorOptions::new("e2e-shared"));
            let op = match op {
                Ok(op) => match op.wait_ready(Duration::from_secs(60)).await {
                    Ok(()) => op,
                    Err(e) => {
                        cp.mark_failed();
                        return Err(format!("{e:#}"));
                    }
                },
                Err(e) => return Err(format!("{e:#}")),
            };
            // SAFETY: registering a plain `extern "C" fn()` with the C library.
            unsafe { atexit(shutdown_shared) };
            Ok(Shared {
                cp,
                operator: Mutex::new(Some(op)),
            })
        })
    });
    match shared {
        Ok(s) => s,
        Err(e) => panic!("could not set up the shared control plane and operator: {e}"),
    }
}

/// Runs `test` on the control plane and operator shared by this test binary.
pub fn with_shared(test: impl AsyncFnOnce(&'static Shared) -> anyhow::Result<()>) {
    let shared = shared();
    RUNTIME.block_on(async {
        let result = AssertUnwindSafe(test(shared)).catch_unwind().await;
        finish(&shared.cp, result);
    });
}

fn finish(cp: &ControlPlane, result: Result<anyhow::Result<()>, Box<dyn std::any::Any + Send>>) {
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            cp.mark_failed();
            panic!(
                "{e:?}\n\nlogs of the control plane and the operator(s) are kept in {}",
                cp.state_dir.display()
            );
        }
        Err(panic) => {
            cp.mark_failed();
            eprintln!(
                "logs of the control plane and the operator(s) are kept in {}",
                cp.state_dir.display()
            );
            std::panic::resume_unwind(panic);
        }
    }
}

/// Runs a future to completion on the shared runtime (for helpers called outside a test body).
pub fn block_on<F: Future>(f: F) -> F::Output {
    RUNTIME.block_on(f)
}

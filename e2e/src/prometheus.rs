//! A real Prometheus (and its `promtool`), built from Prometheus' Go module by
//! `e2e/build-prometheus.sh`: tests scrape the real operator with it, load the chart's alerting
//! rules into it and assert with PromQL what a monitoring stack would see, instead of parsing
//! `/metrics` text themselves and guessing how Prometheus would read it.
//!
//! [`Prometheus::start`] runs one on 127.0.0.1 (a free port, its own data dir, `scrape_interval`
//! and `evaluation_interval` of 1 s) with the static targets and rule files of a
//! [`PrometheusConfig`], waits until `/-/ready`, and kills it on drop (and, through a watchdog,
//! when the test process dies without dropping it).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use crate::controlplane::built_bin_dir;
use crate::{tail, wait_until};

/// Prometheus' bin directory (`prometheus`, `promtool`), built or found in the cache once per
/// test process.
pub fn bin_dir() -> anyhow::Result<&'static Path> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = DIR.get_or_init(|| built_bin_dir("build-prometheus.sh"));
    match dir {
        Ok(d) => Ok(d.as_path()),
        Err(e) => bail!("building Prometheus failed (run e2e/build-prometheus.sh to see why): {e}"),
    }
}

/// The `promtool` binary.
pub fn promtool() -> anyhow::Result<PathBuf> {
    Ok(bin_dir()?.join("promtool"))
}

/// What one Prometheus scrapes and evaluates.
#[derive(Clone, Debug, Default)]
pub struct PrometheusConfig {
    jobs: Vec<(String, Vec<SocketAddr>)>,
    rule_files: Vec<PathBuf>,
}

impl PrometheusConfig {
    pub fn new() -> Self {
        Self::default()
    }

    /// Scrapes `targets` (their `/metrics`) every second as job `job`.
    pub fn scrape(mut self, job: &str, targets: &[SocketAddr]) -> Self {
        self.jobs.push((job.to_string(), targets.to_vec()));
        self
    }

    /// Loads and evaluates every second the rules of `path` (a Prometheus rule file).
    pub fn rule_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.rule_files.push(path.into());
        self
    }

    /// The configuration file, as JSON (which Prometheus' YAML reader accepts): quoting of
    /// paths and addresses is then serde's business.
    fn render(&self) -> Value {
        let scrape_configs: Vec<Value> = self
            .jobs
            .iter()
            .map(|(job, targets)| {
                let targets: Vec<String> = targets.iter().map(SocketAddr::to_string).collect();
                json!({"job_name": job, "static_configs": [{"targets": targets}]})
            })
            .collect();
        let rule_files: Vec<String> = self
            .rule_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        json!({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": rule_files,
            "scrape_configs": scrape_configs,
        })
    }
}

/// One sample of an instant vector: its labels (`__name__` included when the query kept it)
/// and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        write!(f, "{{{}}} {}", labels.join(", "), self.value)
    }
}

/// `samples` one per line, for error messages.
pub fn show(samples: &[Sample]) -> String {
    if samples.is_empty() {
        return "(no series)".into();
    }
    samples
        .iter()
        .map(Sample::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A running Prometheus. Killed on drop.
pub struct Prometheus {
    child: Option<Child>,
    addr: SocketAddr,
    dir: PathBuf,
    config: PrometheusConfig,
}

impl Prometheus {
    /// Starts Prometheus with `config`, its config file, data and log in `dir` (created; a
    /// control plane's state dir keeps them with the other logs when a test fails), and waits
    /// until it is ready. The rule files are checked by Prometheus itself: a rule file it
    /// refuses fails the start with its message.
    pub async fn start(dir: &Path, config: PrometheusConfig) -> anyhow::Result<Prometheus> {
        let bin = bin_dir()?.join("prometheus");
        std::fs::create_dir_all(dir.join("data"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let config_path = dir.join("prometheus.yml");
        std::fs::write(
            &config_path,
            serde_json::to_string_pretty(&config.render())?,
        )
        .with_context(|| format!("cannot write {}", config_path.display()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let log_path = dir.join("prometheus.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut prometheus = Prometheus {
            child: Some(child),
            addr,
            dir: dir.to_path_buf(),
            config,
        };
        prometheus.spawn_watchdog(&config_path)?;
        prometheus.wait_ready(Duration::from_secs(60)).await?;
        Ok(prometheus)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The folder with its config, data and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// If the test process is killed (no drop), a detached watchdog kills this Prometheus: it
    /// would otherwise keep scraping a dead operator. It checks the command line names our config
    /// file before it kills, in case the PID was reused.
    fn spawn_watchdog(&self, config_path: &Path) -> anyhow::Result<()> {
        const SCRIPT: &str = r#"
            test_pid="$1"; pid="$2"; needle="$3"
            while kill -0 "$test_pid" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
            if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$needle"; then
                kill -KILL "$pid" 2>/dev/null || true
            fi
        "#;
        let pid = self.child.as_ref().map(Child::id).context("not started")?;
        Command::new("setsid")
            .arg("bash")
            .arg("-c")
            .arg(SCRIPT)
            .arg("khaibao-e2e-prometheus-watchdog")
            .arg(std::process::id().to_string())
            .arg(pid.to_string())
            .arg(format!("--config.file={}", config_path.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the Prometheus watchdog (setsid bash)")?;
        Ok(())
    }

    fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => !matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if self.exited() {
                bail!(
                    "Prometheus exited during startup; its log ({}):\n{}",
                    self.dir.join("prometheus.log").display(),
                    tail(&self.log(), 30)
                );
            }
            let last = match self.get("/-/ready").await {
                Ok((200, _)) => return Ok(()),
                Ok((code, body)) => format!("{code} {}", body.trim()),
                Err(e) => format!("{e:#}"),
            };
            if start.elapsed() > timeout {
                bail!(
                    "Prometheus at {} not ready after {timeout:?} (last: {last}); its log:\n{}",
                    self.addr,
                    tail(&self.log(), 30)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// GET `path_and_query`: the status code and the body.
    async fn get(&self, path_and_query: &str) -> anyhow::Result<(u16, String)> {
        let reply = crate::http::get(self.addr, path_and_query, &[]).await?;
        Ok((reply.status, reply.body))
    }

    /// GET an API path: its `data` when `status` is `success`, else Prometheus' error.
    async fn api(&self, path_and_query: &str) -> anyhow::Result<Value> {
        let (code, body) = self.get(path_and_query).await?;
        let v: Value = serde_json::from_str(&body)
            .with_context(|| format!("GET {path_and_query} answered {code}: {body}"))?;
        if v["status"] != "success" {
            bail!(
                "GET {path_and_query} answered {code}: {} ({})",
                v["error"].as_str().unwrap_or(&body),
                v["errorType"].as_str().unwrap_or("no errorType")
            );
        }
        Ok(v["data"].clone())
    }

    /// The `data` of an instant query at the current time (`resultType` and `result`), for
    /// results other than a vector (scalars, strings).
    pub async fn query_data(&self, promql: &str) -> anyhow::Result<Value> {
        self.api(&format!("/api/v1/query?query={}", percent_encode(promql)))
            .await
            .with_context(|| format!("query {promql}"))
    }

    /// An instant query at the current time that must give an instant vector; a PromQL error
    /// (bad syntax, unknown function) is an error naming the query.
    pub async fn query(&self, promql: &str) -> anyhow::Result<Vec<Sample>> {
        let data = self.query_data(promql).await?;
        ensure!(
            data["resultType"] == "vector",
            "query {promql} gave a {} instead of an instant vector: {data}",
            data["resultType"]
        );
        let result = data["result"].as_array().cloned().unwrap_or_default();
        result
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                let value = s["value"][1]
                    .as_str()
                    .and_then(|v| f64::from_str(v).ok())
                    .with_context(|| format!("query {promql}: sample without a value: {s}"))?;
                Ok(Sample { labels, value })
            })
            .collect()
    }

    /// Waits until every configured target of `job` has been scraped successfully
    /// (`up{job=...} == 1` for each); on timeout the error carries Prometheus' own view of the
    /// targets (health and last scrape error).
    pub async fn wait_for_target_up(&self, job: &str, timeout: Duration) -> anyhow::Result<()> {
        let expected = self
            .config
            .jobs
            .iter()
            .find(|(j, _)| j == job)
            .map(|(_, t)| t.len())
            .with_context(|| format!("job {job:?} is not in this Prometheus' configuration"))?;
        let query = format!("up{{job={job:?}}}");
        let waited = wait_until(
            &format!("Prometheus scraping the {expected} target(s) of job {job}"),
            timeout,
            async || {
                let up = self.query(&query).await?;
                ensure!(
                    up.len() == expected && up.iter().all(|s| s.value == 1.0),
                    "{query}:\n{}",
                    show(&up)
                );
                Ok(())
            },
        )
        .await;
        if let Err(e) = waited {
            let targets = self
                .api("/api/v1/targets?state=active")
                .await
                .map(|d| targets_summary(&d, job))
                .unwrap_or_else(|e| format!("(cannot read /api/v1/targets: {e:#})"));
            bail!("{e:#}\nPrometheus' targets of job {job}:\n{targets}");
        }
        Ok(())
    }

    /// The rule groups as `/api/v1/rules` reports them (name, rules with their state, health,
    /// lastError, lastEvaluation).
    pub async fn rule_groups(&self) -> anyhow::Result<Vec<Value>> {
        let data = self.api("/api/v1/rules").await?;
        Ok(data["groups"].as_array().cloned().unwrap_or_default())
    }

    /// Waits until every rule of every group has been evaluated after `since` (so that what
    /// `ALERTS` shows next was computed from data no older than that) and each evaluation
    /// succeeded; a rule whose last evaluation failed is an error carrying Prometheus' message.
    pub async fn wait_rules_evaluated_since(
        &self,
        since: Timestamp,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        wait_until(
            &format!("every rule evaluated after {since}"),
            timeout,
            async || {
                let groups = self.rule_groups().await?;
                ensure!(!groups.is_empty(), "no rule group is loaded");
                for g in &groups {
                    for r in g["rules"].as_array().into_iter().flatten() {
                        let name = r["name"].as_str().unwrap_or("?");
                        if r["health"] == "err" {
                            bail!(
                                "rule {name} of group {} fails to evaluate: {}",
                                g["name"],
                                r["lastError"]
                            );
                        }
                        let last = r["lastEvaluation"].as_str().unwrap_or_default();
                        let at = Timestamp::from_str(last)
                            .with_context(|| format!("rule {name}: lastEvaluation {last:?}"))?;
                        ensure!(at > since, "rule {name} last evaluated at {at}");
                    }
                }
                Ok(())
            },
        )
        .await?;
        Ok(())
    }

    /// The active alerts (pending and firing) as the `ALERTS` series.
    pub async fn alerts(&self) -> anyhow::Result<Vec<Sample>> {
        self.query("ALERTS").await
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The TSDB is of no use once the test is over; the config and log stay for a post-mortem.
        let _ = std::fs::remove_dir_all(self.dir.join("data"));
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Percent-encodes a query parameter (RFC 3986: all but the unreserved characters).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `instance health lastError` for each active target of `job`.
fn targets_summary(data: &Value, job: &str) -> String {
    let lines: Vec<String> = data["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["labels"]["job"] == job)
        .map(|t| {
            format!(
                "  {} {} {}",
                t["labels"]["instance"].as_str().unwrap_or("?"),
                t["health"].as_str().unwrap_or("?"),
                t["lastError"].as_str().unwrap_or_default()
            )
        })
        .collect();
    if lines.is_empty() {
        "  (none)".into()
    } else {
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            percent_encode(r#"up{job="khaibao"} == 1"#),
            "up%7Bjob%3D%22khaibao%22%7D%20%3D%3D%201"
        );
        assert_eq!(percent_encode("rate(x[1m])"), "rate%28x%5B1m%5D%29");
        assert_eq!(percent_encode("tỉnh"), "t%E1%BB%89nh");
    }

    #[test]
    fn the_config_has_one_second_intervals_static_targets_and_the_rule_files() {
        let addr: SocketAddr = "127.0.0.1:9000".parse().unwrap_or_else(|e| panic!("{e}"));
        let c = PrometheusConfig::new()
            .scrape("khaibao", &[addr])
            .rule_file("/x/rules.yaml")
            .render();
        assert_eq!(c["global"]["scrape_interval"], "1s");
        assert_eq!(c["global"]["evaluation_interval"], "1s");
        assert_eq!(c["scrape_configs"][0]["job_name"], "khaibao");
        assert_eq!(
            c["scrape_configs"][0]["static_configs"][0]["targets"][0],
            "127.0.0.1:9000"
        );
        assert_eq!(c["rule_files"][0], "/x/rules.yaml");
    }
}

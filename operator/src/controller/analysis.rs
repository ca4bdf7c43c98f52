//! The operator's half of a wave's analysis: takes the measurements that are due (one
//! Prometheus query per metric, one request per sampled tenant per HTTP check), records them in
//! `status.rollout.analysis` and says whether the rollout may go on. What a measurement means
//! is decided by the pure `crate::analysis`.
//!
//! Bounded whatever the wave's size: a metric is one query per interval for the whole wave (its
//! tenants in one regex), an HTTP check at most `maxTenants` requests per interval.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use serde_json::Value;

use super::writes::publish;
use super::{Context, Error, object_key, revisions};
use crate::analysis::{
    self as pure, Condition, Measurement, Verdict, interval_seconds, record, verdict,
};
use crate::api::{
    AnalysisCheckStatus, AnalysisHttpCheck, AnalysisMetric, AnalysisSchedule, AnalysisStatus,
    Platform, RolloutAnalysis, RolloutStatus, Tenant,
};

/// How long a Prometheus query may take before the measurement is inconclusive.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Bodies longer than this are not read further (a portal page is a few kB).
const BODY_LIMIT: usize = 1 << 20;

const KIND_METRIC: &str = "metric";
const KIND_HTTP: &str = "http";

pub enum Gate {
    Passed,
    /// Measurements still to take; look again after this long.
    Waiting {
        message: String,
        after: Duration,
    },
    Failed {
        message: String,
    },
}

/// The analysis of wave `wave` (1-based) of `r`, whose Ready tenants are `tenants`.
pub async fn gate(
    platform: &Platform,
    ctx: &Context,
    policy: &RolloutAnalysis,
    r: &mut RolloutStatus,
    wave: usize,
    tenants: &[Arc<Tenant>],
    now: &Time,
) -> Result<Gate, Error> {
    let wave_i32 = i32::try_from(wave).unwrap_or(i32::MAX);
    let analysis = match r.analysis.take().filter(|a| a.wave == wave_i32) {
        Some(a) => a,
        None => AnalysisStatus {
            wave: wave_i32,
            phase: AnalysisStatus::RUNNING.into(),
            started_at: Some(now.clone()),
            ..Default::default()
        },
    };
    let (to, waves) = (r.to.clone(), r.waves);
    let analysis = r.analysis.insert(analysis);
    if analysis.phase == AnalysisStatus::SUCCESSFUL {
        return Ok(Gate::Passed);
    }
    if analysis.phase == AnalysisStatus::FAILED {
        return Ok(Gate::Failed {
            message: analysis.message.clone().unwrap_or_default(),
        });
    }
    let checks = checks_of(policy);
    // The policy may have been edited mid-analysis: keep the measurements of checks still
    // there, start the new ones at zero.
    analysis.checks = checks
        .iter()
        .map(|c| {
            analysis
                .checks
                .iter()
                .find(|s| s.name == c.name() && s.kind == c.kind())
                .cloned()
                .unwrap_or_else(|| AnalysisCheckStatus {
                    name: c.name().to_string(),
                    kind: c.kind().to_string(),
                    ..Default::default()
                })
        })
        .collect();
    let mut keys: Vec<(String, Arc<Tenant>)> = tenants
        .iter()
        .map(|t| (object_key(t.as_ref()), t.clone()))
        .collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    let mut next = Duration::from_secs(u64::MAX / 4);
    for (check, status) in checks.iter().zip(analysis.checks.iter_mut()) {
        if verdict(status, check.schedule()) != Verdict::Pending {
            continue;
        }
        let interval = interval_seconds(check.schedule());
        let since = status
            .last_at
            .as_ref()
            .map(|t| now.0.as_second() - t.0.as_second());
        if let Some(s) = since.filter(|s| *s < interval) {
            next = next.min(Duration::from_secs((interval - s).max(1) as u64));
            continue;
        }
        let m = match check {
            Check::Metric(m) => {
                measure_metric(platform, policy, m, labels_of(&keys), wave, &to).await
            }
            Check::Http(h) => measure_http(platform, ctx, h, &keys, &to).await?,
        };
        record(status, m);
        status.last_at = Some(now.clone());
        if verdict(status, check.schedule()) == Verdict::Pending {
            next = next.min(Duration::from_secs(interval.max(1) as u64));
        }
    }
    let verdicts: Vec<Verdict> = checks
        .iter()
        .zip(&analysis.checks)
        .map(|(c, s)| verdict(s, c.schedule()))
        .collect();
    let summary = summary(&analysis.checks, &checks);
    let name = platform.name_any();
    if let Some(failed) = analysis
        .checks
        .iter()
        .zip(&verdicts)
        .find(|(_, v)| **v == Verdict::Failed)
        .map(|(s, _)| s)
    {
        let message = format!(
            "analysis of wave {wave}/{waves} failed: {} {} failed {} time(s): {}",
            failed.kind,
            failed.name,
            failed.failures,
            failed.last_message.as_deref().unwrap_or("no detail")
        );
        analysis.phase = AnalysisStatus::FAILED.into();
        analysis.message = Some(message.clone());
        publish(
            ctx,
            platform,
            EventType::Warning,
            "AnalysisFailed",
            &message,
        )
        .await;
        return Ok(Gate::Failed { message });
    }
    if verdicts.iter().all(|v| *v == Verdict::Passed) {
        let message = format!("analysis of wave {wave}/{waves} passed: {summary}");
        analysis.phase = AnalysisStatus::SUCCESSFUL.into();
        analysis.message = Some(message.clone());
        publish(ctx, platform, EventType::Normal, "AnalysisPassed", &message).await;
        return Ok(Gate::Passed);
    }
    let message = format!("wave {wave}/{waves} of {name}: analysis running: {summary}");
    analysis.message = Some(message.clone());
    Ok(Gate::Waiting {
        message,
        after: next.min(Duration::from_secs(60)),
    })
}

fn labels_of(keys: &[(String, Arc<Tenant>)]) -> Vec<String> {
    keys.iter()
        .map(|(_, t)| {
            crate::pipeline::tenant_label_value(&t.namespace().unwrap_or_default(), &t.name_any())
        })
        .collect()
}

/// `name 2/3 ok, 0/0 failed` per check, and the last problem of each.
fn summary(statuses: &[AnalysisCheckStatus], checks: &[Check<'_>]) -> String {
    statuses
        .iter()
        .zip(checks)
        .map(|(s, c)| {
            let count = c.schedule().count.unwrap_or(pure::DEFAULT_COUNT);
            let mut line = format!(
                "{} {} {}/{count} ok, {} failed",
                s.kind, s.name, s.successes, s.failures
            );
            if s.inconclusive > 0 {
                line.push_str(&format!(", {} not measured", s.inconclusive));
            }
            if let Some(m) = &s.last_message {
                line.push_str(&format!(" ({m})"));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("; ")
}

enum Check<'a> {
    Metric(&'a AnalysisMetric),
    Http(&'a AnalysisHttpCheck),
}

impl Check<'_> {
    fn name(&self) -> &str {
        match self {
            Check::Metric(m) => &m.name,
            Check::Http(h) => &h.name,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            Check::Metric(_) => KIND_METRIC,
            Check::Http(_) => KIND_HTTP,
        }
    }
    fn schedule(&self) -> &AnalysisSchedule {
        match self {
            Check::Metric(m) => &m.schedule,
            Check::Http(h) => &h.schedule,
        }
    }
}

fn checks_of(policy: &RolloutAnalysis) -> Vec<Check<'_>> {
    policy
        .metrics
        .iter()
        .map(Check::Metric)
        .chain(policy.http.iter().map(Check::Http))
        .collect()
}

fn client() -> &'static Client<HttpConnector, Full<Bytes>> {
    static CLIENT: OnceLock<Client<HttpConnector, Full<Bytes>>> = OnceLock::new();
    CLIENT.get_or_init(|| Client::builder(TokioExecutor::new()).build_http())
}

struct HttpAnswer {
    status: u16,
    body: String,
}

async fn request(req: http::Request<Full<Bytes>>, timeout: Duration) -> Result<HttpAnswer, String> {
    let fut = async {
        let resp = client().request(req).await.map_err(|e| {
            // The connector's error says what failed (refused, no route); hyper's own wrapper
            // only says "client error".
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            msg
        })?;
        let status = resp.status().as_u16();
        let body = http_body_util::Limited::new(resp.into_body(), BODY_LIMIT)
            .collect()
            .await
            .map_err(|e| format!("reading the body: {e}"))?
            .to_bytes();
        Ok(HttpAnswer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| format!("no answer within {} s", timeout.as_secs()))?
}

async fn measure_metric(
    platform: &Platform,
    policy: &RolloutAnalysis,
    m: &AnalysisMetric,
    labels: Vec<String>,
    wave: usize,
    revision: &str,
) -> Measurement {
    let failure = |message: String| Measurement::Failure {
        value: None,
        message,
    };
    let condition = match Condition::parse(&m.success_condition) {
        Ok(c) => c,
        Err(e) => return failure(e),
    };
    let Some(base) = policy.prometheus.as_deref().filter(|p| !p.is_empty()) else {
        return failure(
            "spec.rollout.analysis.prometheus is not set: no Prometheus to query".into(),
        );
    };
    let context = pure::wave_context(&labels, wave, revision, &platform.name_any());
    let query = match pure::render(&m.query, &context) {
        Ok(q) => q,
        Err(e) => return failure(e),
    };
    let url = format!("{}/api/v1/query", base.trim_end_matches('/'));
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", &query)
        .finish();
    let req = match http::Request::post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
    {
        Ok(r) => r,
        Err(e) => return failure(format!("Prometheus address {base:?}: {e}")),
    };
    let answer = match request(req, QUERY_TIMEOUT).await {
        Ok(a) => a,
        Err(e) => {
            return Measurement::Inconclusive {
                message: format!("Prometheus at {base} unreachable ({e}); the wave waits"),
            };
        }
    };
    let Ok(json) = serde_json::from_str::<Value>(&answer.body) else {
        return Measurement::Inconclusive {
            message: format!(
                "Prometheus at {base} answered {} without a query result; the wave waits",
                answer.status
            ),
        };
    };
    match pure::query_values(&json) {
        Ok(values) => pure::judge(&values, &condition, &m.success_condition),
        // Prometheus refused the query itself (it does not parse, or it times out there).
        Err(e) => failure(format!("Prometheus refused the query {query:?}: {e}")),
    }
}

async fn measure_http(
    platform: &Platform,
    ctx: &Context,
    h: &AnalysisHttpCheck,
    tenants: &[(String, Arc<Tenant>)],
    revision: &str,
) -> Result<Measurement, Error> {
    let compiled = match revisions::compiled_at(ctx, platform, revision).await? {
        Ok(c) => c,
        Err(e) => {
            return Ok(Measurement::Failure {
                value: None,
                message: format!("revision {revision} cannot be compiled: {e}"),
            });
        }
    };
    let max = h
        .max_tenants
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(pure::DEFAULT_MAX_TENANTS);
    let expect = h.expect_status.unwrap_or(200);
    let timeout = Duration::from_secs(
        h.timeout_seconds
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .unwrap_or(pure::DEFAULT_HTTP_TIMEOUT_SECONDS),
    );
    let sampled = pure::sample(tenants, max);
    if sampled.is_empty() {
        return Ok(Measurement::Inconclusive {
            message: "no Ready tenant in the wave to request".into(),
        });
    }
    let probes = sampled.iter().map(|(key, t)| {
        let compiled = compiled.clone();
        async move {
            let fail = |value: Option<String>, why: String| Measurement::Failure {
                value,
                message: format!("{key}: {why}"),
            };
            let parent = super::tenant::load_parent(t, ctx);
            let rendered = match compiled.render_tenant(t, parent.as_deref()) {
                Ok(r) => r,
                Err(d) => {
                    let first = d.first().map(|d| d.message.en.clone()).unwrap_or_default();
                    return fail(None, format!("does not render: {first}"));
                }
            };
            let context = pure::tenant_context(&rendered);
            let render = |t: &str| pure::render(t, &context);
            let url = match render(&h.url) {
                Ok(u) => u,
                Err(e) => return fail(None, e),
            };
            if !url.starts_with("http://") {
                return fail(None, format!("{url:?}: only http:// addresses are probed"));
            }
            let mut req = http::Request::get(&url);
            let mut shown = url.clone();
            if let Some(host) = &h.host {
                match render(host) {
                    Ok(host) => {
                        shown = format!("{url} (Host {host})");
                        req = req.header("host", host);
                    }
                    Err(e) => return fail(None, e),
                }
            }
            let needle = match h.body_contains.as_deref().map(render).transpose() {
                Ok(n) => n,
                Err(e) => return fail(None, e),
            };
            let req = match req.body(Full::new(Bytes::new())) {
                Ok(r) => r,
                Err(e) => return fail(None, format!("{shown}: {e}")),
            };
            match request(req, timeout).await {
                Err(e) => fail(None, format!("{shown}: {e}")),
                Ok(a) if i32::from(a.status) != expect => fail(
                    Some(a.status.to_string()),
                    format!("{shown} answered {}, expected {expect}", a.status),
                ),
                Ok(a)
                    if needle
                        .as_ref()
                        .is_some_and(|n| !a.body.contains(n.as_str())) =>
                {
                    fail(
                        Some(a.status.to_string()),
                        format!(
                            "{shown} answered {} without {:?}",
                            a.status,
                            needle.unwrap_or_default()
                        ),
                    )
                }
                Ok(a) => Measurement::Success {
                    value: a.status.to_string(),
                },
            }
        }
    });
    let results = futures::future::join_all(probes).await;
    let n = results.len();
    Ok(results
        .into_iter()
        .find(|m| matches!(m, Measurement::Failure { .. }))
        .unwrap_or(Measurement::Success {
            value: format!("{expect} from {n} tenant(s)"),
        }))
}

//! The pure half of a wave's analysis (`spec.rollout.analysis`): success conditions, the
//! templates of queries and probes, which tenants a probe samples, reading Prometheus' answer,
//! and the verdict from the measurements so far. The operator's half
//! (`controller::analysis`) only takes measurements and records them.

use handlebars::Handlebars;
use serde_json::{Value, json};

use crate::api::{AnalysisCheckStatus, AnalysisSchedule};
use crate::pipeline::{RenderedTenant, tenant_label_value};

pub const DEFAULT_INTERVAL_SECONDS: i64 = 10;
pub const DEFAULT_COUNT: i32 = 3;
pub const DEFAULT_HTTP_TIMEOUT_SECONDS: u64 = 5;
pub const DEFAULT_MAX_TENANTS: usize = 10;

/// `result <op> <number>`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Condition {
    op: Op,
    threshold: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Condition {
    pub fn parse(text: &str) -> Result<Condition, String> {
        let bad = || {
            format!(
                "successCondition {text:?} is not `result <op> <number>` (op one of <, <=, >, >=, ==, !=), e.g. `result < 0.05`"
            )
        };
        let rest = text
            .trim()
            .strip_prefix("result")
            .ok_or_else(bad)?
            .trim_start();
        let (op, number) = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<", Op::Lt),
            (">", Op::Gt),
        ]
        .iter()
        .find_map(|(sym, op)| rest.strip_prefix(sym).map(|n| (*op, n)))
        .ok_or_else(bad)?;
        let threshold: f64 = number.trim().parse().map_err(|_| bad())?;
        if !threshold.is_finite() {
            return Err(bad());
        }
        Ok(Condition { op, threshold })
    }

    pub fn holds(&self, value: f64) -> bool {
        let t = self.threshold;
        match self.op {
            Op::Lt => value < t,
            Op::Le => value <= t,
            Op::Gt => value > t,
            Op::Ge => value >= t,
            Op::Eq => value == t,
            Op::Ne => value != t,
        }
    }
}

/// Templates of analysis checks: Handlebars like the platform's templates, strict (an unknown
/// variable is an error, not an empty string), without YAML quoting: the output is a query or
/// an address, not a YAML scalar.
pub fn render(template: &str, context: &Value) -> Result<String, String> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.render_template(template, context)
        .map_err(|e| format!("template {template:?}: {e}"))
}

/// What a metric's query sees: the wave's tenants by their `khaibao.dev/tenant` label.
pub fn wave_context(labels: &[String], wave: usize, revision: &str, platform: &str) -> Value {
    json!({
        "tenants": {
            "regex": labels.iter().map(|l| promql_regex_literal(l)).collect::<Vec<_>>().join("|"),
            "labels": labels.join(","),
            "count": labels.len(),
        },
        "wave": wave,
        "revision": revision,
        "platform": {"name": platform},
    })
}

/// What an HTTP check's templates see for one tenant: the names its templates see too, taken
/// from its render at the rollout's target revision.
pub fn tenant_context(t: &RenderedTenant) -> Value {
    let u = &t.unit;
    json!({
        "tenant": {"name": t.name, "namespace": t.namespace, "label": tenant_label_value(&t.namespace, &t.name)},
        "unit": {
            "level": u.level.as_str(), "code": u.code, "name": u.name, "slug": u.slug,
            "type": u.division_type, "provinceCode": u.province_code,
            "provinceName": u.province_name, "provinceSlug": u.province_slug,
        },
        "values": t.values.value,
    })
}

/// A label value as a regex that matches it literally, written for a double-quoted PromQL
/// string (where a backslash must itself be escaped): `tinh-01.ha-noi` → `tinh-01\\.ha-noi`.
fn promql_regex_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

/// At most `n` of `keys`, spread evenly over them (the first and the last included), so a
/// probe of a large wave sees its whole range, not only its first tenants.
pub fn sample<T: Clone>(items: &[T], n: usize) -> Vec<T> {
    if items.len() <= n {
        return items.to_vec();
    }
    if n <= 1 {
        return items.iter().take(n).cloned().collect();
    }
    (0..n)
        .map(|i| items[i * (items.len() - 1) / (n - 1)].clone())
        .collect()
}

/// One measurement of one check.
#[derive(Debug, PartialEq)]
pub enum Measurement {
    Success {
        value: String,
    },
    Failure {
        value: Option<String>,
        message: String,
    },
    /// Could not be taken (the measuring system is down): counted neither way.
    Inconclusive {
        message: String,
    },
}

/// The values of a Prometheus `/api/v1/query` answer. `Err` holds Prometheus' own error (a
/// query that does not parse is `bad_data`).
pub fn query_values(answer: &Value) -> Result<Vec<f64>, String> {
    if answer["status"] != "success" {
        return Err(format!(
            "{}: {}",
            answer["errorType"].as_str().unwrap_or("error"),
            answer["error"]
                .as_str()
                .unwrap_or("Prometheus answered no data")
        ));
    }
    let data = &answer["data"];
    let number = |v: &Value| -> Result<f64, String> {
        v.get(1)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| format!("unexpected sample {v}"))
    };
    match data["resultType"].as_str() {
        Some("scalar") => Ok(vec![number(&data["result"])?]),
        Some("vector") => data["result"]
            .as_array()
            .map(|samples| samples.iter().map(|s| number(&s["value"])).collect())
            .unwrap_or_else(|| Ok(Vec::new())),
        other => Err(format!(
            "the query returns a {}; a success condition needs a scalar or an instant vector",
            other.unwrap_or("nothing")
        )),
    }
}

/// A metric's measurement from its values: every sample must satisfy the condition.
pub fn judge(values: &[f64], condition: &Condition, condition_text: &str) -> Measurement {
    let shown = values
        .iter()
        .map(|v| format!("{v}"))
        .collect::<Vec<_>>()
        .join(", ");
    if values.is_empty() {
        return Measurement::Failure {
            value: None,
            message: "the query returned no data (add `or vector(0)` if none means healthy)".into(),
        };
    }
    match values.iter().find(|v| !condition.holds(**v)) {
        None => Measurement::Success { value: shown },
        Some(v) => Measurement::Failure {
            value: Some(shown.clone()),
            message: format!("{v} does not satisfy `{condition_text}`"),
        },
    }
}

/// Where one check stands.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Passed,
    Failed,
    Pending,
}

pub fn verdict(check: &AnalysisCheckStatus, schedule: &AnalysisSchedule) -> Verdict {
    if check.failures > schedule.failure_limit.unwrap_or(0).max(0) {
        Verdict::Failed
    } else if check.successes >= schedule.count.unwrap_or(DEFAULT_COUNT).max(1) {
        Verdict::Passed
    } else {
        Verdict::Pending
    }
}

pub fn interval_seconds(schedule: &AnalysisSchedule) -> i64 {
    schedule
        .interval_seconds
        .map(i64::from)
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_INTERVAL_SECONDS)
}

/// Records a measurement in a check's status.
pub fn record(check: &mut AnalysisCheckStatus, m: Measurement) {
    match m {
        Measurement::Success { value } => {
            check.successes += 1;
            check.last_value = Some(value);
            check.last_message = None;
        }
        Measurement::Failure { value, message } => {
            check.failures += 1;
            check.last_value = value;
            check.last_message = Some(message);
        }
        Measurement::Inconclusive { message } => {
            check.inconclusive += 1;
            check.last_message = Some(message);
        }
    }
}

#[cfg(test)]
#[path = "analysis_tests.rs"]
mod tests;

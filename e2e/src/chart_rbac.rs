//! The chart's ServiceAccount and RBAC as a cluster operator installs them (`helm template kb
//! charts/khaibao` piped to `kubectl apply`), optionally minus one rule or one verb, the
//! operator run as that ServiceAccount, and the first request the API server refused it. Used
//! to prove the chart's RBAC is enough (`tests/least_privilege.rs`) and that every rule of it is
//! needed (`rbac_rule_removal_proof`).

use anyhow::Context;
use serde_json::{Value, json};

use crate::{ControlPlane, Operator, OperatorOptions};

/// The namespace the chart is rendered for.
pub const RELEASE_NAMESPACE: &str = "khaibao-system";
/// `helm template kb ...` names the ServiceAccount, ClusterRole and Role `kb-operator`.
pub const SERVICE_ACCOUNT: &str = "kb-operator";
const LEADER_ROLE: &str = "kb-operator-leader";
const SECRETS_ROLE: &str = "kb-operator-secrets";
/// The kinds of the chart's rule lists, in the order [`ChartRbac::applied_rules`] reads them.
const RULE_KINDS: [&str; 3] = ["ClusterRole", "Role", "SecretsRole"];

/// One rule of the chart (`ClusterRole/2`), or one verb of it (`ClusterRole/2/delete`).
#[derive(Clone, Debug)]
pub struct Removal {
    /// `ClusterRole`, `Role` (leader election) or `SecretsRole`.
    pub kind: &'static str,
    pub index: usize,
    pub verb: Option<String>,
}

/// The chart's ServiceAccount and RBAC with Secrets granted in `secret_namespace` only (the
/// chart's `secretNamespaces`).
pub struct ChartRbac {
    pub secret_namespace: &'static str,
}

impl ChartRbac {
    /// As `helm template` renders them.
    pub fn render(&self, cp: &ControlPlane) -> anyhow::Result<String> {
        cp.helm(&[
            "template",
            "kb",
            "charts/khaibao",
            "-n",
            RELEASE_NAMESPACE,
            "--set",
            &format!("secretNamespaces={{{}}}", self.secret_namespace),
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
            "--show-only",
            "templates/secrets-rbac.yaml",
        ])
    }

    /// kubectl's resource, name and namespace of the object holding the rules of `kind`.
    fn object(&self, kind: &str) -> (&'static str, &'static str, Option<&'static str>) {
        match kind {
            "ClusterRole" => ("clusterrole", SERVICE_ACCOUNT, None),
            "SecretsRole" => ("role", SECRETS_ROLE, Some(self.secret_namespace)),
            _ => ("role", LEADER_ROLE, Some(RELEASE_NAMESPACE)),
        }
    }

    /// The rules of the chart's ClusterRole and Roles as applied in the cluster.
    pub fn applied_rules(&self, cp: &ControlPlane) -> anyhow::Result<Vec<(&'static str, Value)>> {
        let mut out = Vec::new();
        for kind in RULE_KINDS {
            let (res, name, ns) = self.object(kind);
            let mut args = vec!["get", res, name, "-o", "json"];
            if let Some(ns) = ns {
                args.extend(["-n", ns]);
            }
            let obj: Value = serde_json::from_str(&cp.kubectl(&args)?)?;
            for rule in obj["rules"].as_array().cloned().unwrap_or_default() {
                out.push((kind, rule));
            }
        }
        Ok(out)
    }

    /// Applies the chart's RBAC, minus `removal`.
    pub fn install(&self, cp: &ControlPlane, removal: Option<&Removal>) -> anyhow::Result<()> {
        cp.kubectl_with_stdin(&["apply", "-f", "-"], Some(&self.render(cp)?))?;
        let Some(r) = removal else { return Ok(()) };
        let (res, name, ns) = self.object(r.kind);
        let rules: Vec<Value> = self
            .applied_rules(cp)?
            .into_iter()
            .filter(|(k, _)| *k == r.kind)
            .map(|(_, rule)| rule)
            .collect();
        let rule = rules
            .get(r.index)
            .with_context(|| format!("{} has no rule {}", r.kind, r.index))?;
        let patch = match &r.verb {
            None => json!([{"op": "remove", "path": format!("/rules/{}", r.index)}]),
            Some(verb) => {
                let verbs: Vec<&str> = rule["verbs"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .filter(|v| v != verb)
                            .collect()
                    })
                    .unwrap_or_default();
                if verbs.is_empty() {
                    json!([{"op": "remove", "path": format!("/rules/{}", r.index)}])
                } else {
                    json!([{"op": "replace", "path": format!("/rules/{}/verbs", r.index), "value": verbs}])
                }
            }
        };
        let patch = patch.to_string();
        let mut args = vec!["patch", res, name, "--type", "json", "-p", &patch];
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        cp.kubectl(&args)?;
        Ok(())
    }

    /// The operator as the chart's ServiceAccount (impersonation), with the chart's Lease name
    /// and `--secret-namespaces`.
    pub fn operator_options(&self, identity: &str) -> OperatorOptions {
        let mut opts =
            OperatorOptions::new(identity).as_service_account(RELEASE_NAMESPACE, SERVICE_ACCOUNT);
        opts.extra_args = vec![
            "--lease-name".into(),
            SERVICE_ACCOUNT.into(),
            "--secret-namespaces".into(),
            self.secret_namespace.into(),
        ];
        opts
    }
}

/// One [`Removal`] per rule of `rules` (per verb of each rule with `per_verb`), with the rule
/// described for the table.
pub fn removals(rules: &[(&'static str, Value)], per_verb: bool) -> Vec<(Removal, String)> {
    let mut removals = Vec::new();
    let mut counters = std::collections::BTreeMap::new();
    for (kind, rule) in rules {
        let index = counters.entry(*kind).or_insert(0usize);
        if per_verb {
            for verb in rule["verbs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                removals.push((
                    Removal {
                        kind,
                        index: *index,
                        verb: Some(verb.to_string()),
                    },
                    describe_rule(rule),
                ));
            }
        } else {
            removals.push((
                Removal {
                    kind,
                    index: *index,
                    verb: None,
                },
                describe_rule(rule),
            ));
        }
        *index += 1;
    }
    removals
}

/// `apiGroups resources: verbs` of a rule, for the table.
pub fn describe_rule(rule: &Value) -> String {
    let list = |k: &str| {
        rule[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|s| if s.is_empty() { "core" } else { s })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default()
    };
    format!(
        "{} {}: {}",
        list("apiGroups"),
        list("resources"),
        list("verbs")
    )
}

/// The first request of the operator the API server refused with 403, from its log:
/// `cannot list resource "platforms" in API group "khaibao.dev" at the cluster scope`.
pub fn first_forbidden(op: &Operator) -> Option<String> {
    let log = op.log();
    let line = log
        .lines()
        .find(|l| l.contains("forbidden") || l.contains("Forbidden"))?
        // JSON logs escape the quotes once or twice; the message has no other backslashes.
        .replace('\\', "");
    let Some(i) = line.find("cannot ") else {
        return Some(line.chars().take(200).collect());
    };
    let rest = &line[i..];
    let end = if let Some(j) = rest.find(" at the cluster scope") {
        j + " at the cluster scope".len()
    } else if let Some(j) = rest.find(" in the namespace \"") {
        let k = j + " in the namespace \"".len();
        k + rest[k..].find('"').map_or(0, |q| q + 1)
    } else {
        rest.char_indices().nth(160).map_or(rest.len(), |(n, _)| n)
    };
    Some(rest[..end].to_string())
}

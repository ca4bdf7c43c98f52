//! The ValidatingAdmissionPolicy and binding objects around a platform's CEL checks: which
//! requests they match and what they do when a check fails. They must never block a request
//! the operator could handle: an expression that fails to evaluate lets the request through.

use serde_json::{Value, json};

use super::cel::{Check, Unchecked, cel_string, schema_checks};
use crate::api::Platform;
use crate::pipeline::LABEL_TENANT_SET;

/// The generated policy and binding of one platform, with what they check and what they leave
/// to the operator.
#[derive(Clone, Debug)]
pub struct ValuesPolicy {
    pub policy: Value,
    pub binding: Value,
    pub checks: Vec<Check>,
    pub unchecked: Vec<Unchecked>,
}

impl ValuesPolicy {
    /// The policy and its binding, in the order they must be applied.
    pub fn objects(&self) -> Vec<Value> {
        vec![self.policy.clone(), self.binding.clone()]
    }
}

/// `khaibao-values-<platform>`: the name of the policy and of its binding.
pub fn policy_name(platform: &str) -> String {
    format!("khaibao-values-{platform}")
}

/// The policy (failure policy `Ignore`, matched to this platform's Tenants by `matchConditions`)
/// and its binding (`Deny`).
pub fn values_policy(platform: &Platform) -> ValuesPolicy {
    let name = platform.metadata.name.clone().unwrap_or_default();
    let (checks, unchecked) = schema_checks(&platform.spec.tenant_schema, &name);
    let policy_name = policy_name(&name);
    let labels = json!({
        "app.kubernetes.io/managed-by": "khaibao",
        "khaibao.dev/platform": name,
    });
    let validations: Vec<Value> = checks.iter().map(validation).collect();
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy_name, "labels": labels},
        "spec": {
            // An expression that cannot be evaluated lets the request through: the operator
            // checks every value again, so the worst case is today's Rendered=False condition,
            // never a blocked namespace or cluster.
            "failurePolicy": "Ignore",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["khaibao.dev"],
                "apiVersions": ["v1alpha1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["tenants"],
            }]},
            "matchConditions": [
                {"name": "tenant-of-this-platform",
                 "expression": format!("object.spec.platform == {}", cel_string(&name))},
                // Finalizer and label patches of a tenant that was valid under an older schema
                // must still go through: only a request that writes values is checked.
                {"name": "values-written",
                 "expression": "request.operation == 'CREATE' || \
                    (has(object.spec.values) ? object.spec.values : {}) != \
                    (has(oldObject.spec.values) ? oldObject.spec.values : {})"},
                // A TenantSet's values are templates filled per unit by the operator; one bad
                // unit must not stop the set, so those tenants are left to the operator.
                {"name": "not-made-by-a-tenant-set",
                 "expression": format!("!has(object.metadata.labels) || !({} in object.metadata.labels)",
                    cel_string(LABEL_TENANT_SET))},
            ],
            "variables": [{"name": "values",
                "expression": "has(object.spec.values) ? object.spec.values : {}"}],
            "validations": validations,
        },
    });
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": policy_name, "labels": labels},
        "spec": {"policyName": policy_name, "validationActions": ["Deny"]},
    });
    ValuesPolicy {
        policy,
        binding,
        checks,
        unchecked,
    }
}

/// One entry of the policy's `validations`: a check refused with reason `Invalid`.
fn validation(check: &Check) -> Value {
    let mut v = json!({
        "expression": check.expression,
        "message": check.message,
        "reason": "Invalid",
    });
    if let Some(m) = &check.message_expression {
        v["messageExpression"] = json!(m);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::fixtures::dichvucong;

    #[test]
    fn policy_is_scoped_to_the_platform_and_never_blocks() {
        let vp = values_policy(&dichvucong());
        let spec = &vp.policy["spec"];
        assert_eq!(vp.policy["metadata"]["name"], "khaibao-values-dichvucong");
        assert_eq!(spec["failurePolicy"], "Ignore");
        assert_eq!(
            spec["matchConstraints"]["resourceRules"][0]["resources"],
            json!(["tenants"])
        );
        assert_eq!(
            spec["matchConstraints"]["resourceRules"][0]["operations"],
            json!(["CREATE", "UPDATE"])
        );
        let conditions: Vec<&str> = spec["matchConditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["expression"].as_str().unwrap())
            .collect();
        assert_eq!(conditions[0], r#"object.spec.platform == "dichvucong""#);
        assert!(conditions[1].contains("request.operation == 'CREATE' ||"));
        assert!(conditions[2].contains(r#""khaibao.dev/tenant-set" in object.metadata.labels"#));
        assert_eq!(
            spec["validations"].as_array().unwrap().len(),
            vp.checks.len()
        );
        assert!(
            spec["validations"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v["reason"] == "Invalid")
        );
        assert_eq!(
            vp.binding["spec"],
            json!({"policyName": "khaibao-values-dichvucong", "validationActions": ["Deny"]})
        );
        // An empty schema checks nothing but is still a valid policy.
        let mut p = dichvucong();
        p.spec.tenant_schema = Value::Null;
        let empty = values_policy(&p);
        assert!(empty.checks.is_empty() && empty.unchecked.is_empty());
    }

    #[test]
    fn a_message_expression_is_kept_beside_the_message() {
        let check = Check {
            field: "values".into(),
            expression: "true".into(),
            message: "m".into(),
            message_expression: Some("'e'".into()),
        };
        assert_eq!(
            validation(&check),
            json!({"expression": "true", "message": "m", "messageExpression": "'e'", "reason": "Invalid"})
        );
        let plain = Check {
            message_expression: None,
            ..check
        };
        assert!(validation(&plain).get("messageExpression").is_none());
    }
}

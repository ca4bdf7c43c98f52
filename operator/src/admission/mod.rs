//! A platform's tenant schema turned into a ValidatingAdmissionPolicy (CEL, evaluated inside the
//! API server), so that a Tenant whose own `values` break the schema is refused at
//! `kubectl apply` time instead of being accepted and reported `Rendered=False` later.
//!
//! Pure: schema in, policy objects out; no client, no I/O. It must never refuse what the
//! operator would accept: values are merged national ← province ← commune, so only the keys a
//! Tenant itself sets are checked (their type, enum, pattern, length, bounds, unknown keys), and
//! `required` is left to the operator. Every schema keyword the policy cannot express is listed
//! in [`ValuesPolicy::unchecked`].
//!
//! `cel.rs` translates the schema into CEL checks, keyword by keyword ([`schema_checks`]);
//! `messages.rs` holds what each check says, in English and Vietnamese; `policy.rs` wraps the
//! checks in the ValidatingAdmissionPolicy and its binding ([`values_policy`]).

mod cel;
mod messages;
mod policy;

pub use cel::{Check, Unchecked, schema_checks};
pub use policy::{ValuesPolicy, policy_name, values_policy};

#[cfg(test)]
mod fixtures {
    use crate::api::Platform;

    /// The committed `dichvucong` platform, whose schema most tests translate.
    pub(super) fn dichvucong() -> Platform {
        let text = include_str!("../../../platforms/dichvucong/platform.yaml");
        let doc = crate::yaml::parse_stream(text, false).expect("platform.yaml parses");
        serde_json::from_value(doc[0].value.clone()).expect("a Platform")
    }
}

//! What a successor's templates and generated secrets need to know about the tenants it
//! replaces (`spec.predecessors`): each predecessor resolved from the registry edition of its
//! division, and the `-adopted` Secret placeholders that hold the values of predecessors of
//! another unit code. Pure like the rest of the pipeline: the registry is embedded data.

use serde_json::{Value, json};

use crate::api::{Level, Predecessor, Tenant};
use crate::diagnostics::{Diagnostic, Origin, Text};
use crate::registry::{Division, units};

use super::naming::tenant_stem;

/// Suffix added to a generated secret's name for the Secret holding the values adopted from
/// predecessors of another unit code (`<stem>-<secret>-adopted`).
pub const ADOPTED_SUFFIX: &str = "-adopted";
/// On an `-adopted` placeholder: the name of the generated secret (`spec.generatedSecrets`)
/// whose predecessors' values it holds.
pub const ANNOTATION_ADOPTED_SECRET: &str = "khaibao.dev/adopted-secret";

/// A predecessor confirmed by the registry of its division.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedPredecessor {
    /// `namespace/name` of the replaced Tenant.
    pub tenant: String,
    pub level: Level,
    pub code: String,
    pub name: String,
    pub slug: String,
    pub province_code: String,
    pub province_slug: String,
    pub division: Division,
    /// The successor took only part of this (divided) predecessor: its host name and secrets go
    /// to the successor listing it without `partial`.
    pub partial: bool,
    /// A unit of the new division answers at this predecessor's host name now: no alias.
    pub host_taken: bool,
    /// The successor itself, updated in place under another unit: nothing of it is retired,
    /// but its old host name and its old generated secrets go the way of a predecessor's.
    pub in_place: bool,
}

impl ResolvedPredecessor {
    /// The predecessor's name stem, which prefixes its objects (its generated Secrets too).
    pub fn stem(&self) -> String {
        tenant_stem(&self.slug, &self.code)
    }
}

/// True when `p` names the tenant `namespace/name` itself: a successor updated in place, which
/// is listed but never retired. Under the same unit code its Secrets are simply kept; under
/// another code its old values are adopted like a predecessor's (see
/// [`resolve_predecessors`]).
pub fn is_in_place(p: &Predecessor, namespace: &str, name: &str) -> bool {
    p.tenant.split_once('/') == Some((namespace, name))
}

/// `p` resolved in its division ("63" unless it says "34"), or `None` when the registry has no
/// such unit.
pub fn resolve_predecessor(p: &Predecessor) -> Option<ResolvedPredecessor> {
    let division: Division = p.division.as_deref().unwrap_or("63").parse().ok()?;
    let reg = units(division);
    let (code, name, slug, province_code) = match p.level {
        Level::Province => {
            let u = reg.province(&p.code).filter(|_| p.code.len() == 2)?;
            (&u.code, &u.name, &u.slug, &u.code)
        }
        Level::Commune => {
            let u = reg.commune(&p.code)?;
            (&u.code, &u.name, &u.slug, &u.province_code)
        }
    };
    let province_slug = reg.province(province_code)?.slug.clone();
    Some(ResolvedPredecessor {
        tenant: p.tenant.clone(),
        level: p.level,
        code: code.clone(),
        name: name.clone(),
        slug: slug.clone(),
        province_code: province_code.clone(),
        province_slug,
        division,
        partial: p.partial,
        host_taken: p.host_taken,
        in_place: false,
    })
}

/// The tenant's predecessors, resolved; every unknown one is a diagnostic pointing at its
/// code. The tenant's own entry (updated in place) is marked `in_place`; [`keep_in_place`]
/// then says whether it still matters once the tenant's unit is known.
pub fn resolve_predecessors(
    tenant: &Tenant,
    namespace: &str,
    name: &str,
) -> Result<Vec<ResolvedPredecessor>, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, p) in tenant.spec.predecessors.iter().enumerate() {
        let in_place = is_in_place(p, namespace, name);
        match resolve_predecessor(p) {
            Some(r) => out.push(ResolvedPredecessor { in_place, ..r }),
            None => {
                let division = p.division.as_deref().unwrap_or("63");
                problems.push(
                    Diagnostic::new(
                        "UnknownPredecessor",
                        Origin::Tenant,
                        format!("/spec/predecessors/{i}/code"),
                        Text::new(
                            format!(
                                "predecessor {}: no {} has code {:?} in the {division}-province division",
                                p.tenant,
                                p.level.as_str(),
                                p.code
                            ),
                            format!(
                                "đơn vị tiền nhiệm {}: không có {} mã {:?} trong danh mục {division} tỉnh",
                                p.tenant,
                                if p.level == Level::Province { "tỉnh" } else { "xã/phường" },
                                p.code
                            ),
                        ),
                    )
                    .with_hint(Text::new(
                        "check the code and division (default \"63\") of the predecessor; `khaibao units --division 63` lists them",
                        "kiểm tra mã và danh mục (mặc định \"63\") của đơn vị tiền nhiệm; `khaibao units --division 63` liệt kê chúng",
                    )),
                );
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Whether the tenant's own old unit (an `in_place` entry) still matters for `unit`: when its
/// code changed, its old Secrets are named after the old code, so their values go to
/// `-adopted` like any other predecessor's; when its code, slug or province slug changed, its
/// old host name is an alias like theirs (a province renamed by a merge under the same code,
/// Quảng Bình 44 → Quảng Trị 44, moves every commune's host). Otherwise it adds nothing.
pub fn keep_in_place(p: &ResolvedPredecessor, unit: &crate::registry::ResolvedUnit) -> bool {
    !p.in_place
        || p.code != unit.code
        || p.slug != unit.slug
        || p.province_slug != unit.province_slug
}

/// True for the tenant's own old unit of another code: its old generated Secrets (of the old
/// stem) are adopted into `-adopted`, then deleted.
pub fn moved_code(p: &ResolvedPredecessor, unit_code: &str) -> bool {
    p.in_place && !p.partial && p.code != unit_code
}

/// The unit of the current (34-province) division that answers at `p`'s host name (the same
/// level, slug and province slug): the one a `host_taken` predecessor's name belongs to now.
pub fn host_taker(p: &ResolvedPredecessor) -> Option<(Level, String)> {
    let reg = units(Division::D34);
    match p.level {
        Level::Province => reg
            .provinces
            .iter()
            .find(|u| u.slug == p.slug)
            .map(|u| (Level::Province, u.code.clone())),
        Level::Commune => {
            let province = reg.provinces.iter().find(|u| u.slug == p.province_slug)?;
            reg.communes_of(&province.code)
                .find(|c| c.slug == p.slug)
                .map(|c| (Level::Commune, c.code.clone()))
        }
    }
}

/// Refuses a predecessor of another province: one whose province did not become (or is not)
/// the successor's. A successor serves its predecessors' host names and adopts their secrets,
/// so an entry naming a unit elsewhere would let one province take another's address and keys;
/// the official mapping never moves a commune across provinces.
pub fn check_provinces(
    tenant: &Tenant,
    list: &[ResolvedPredecessor],
    unit: &crate::registry::ResolvedUnit,
) -> Result<(), Vec<Diagnostic>> {
    let same_province = |p: &ResolvedPredecessor| match (p.division, unit.division) {
        (a, b) if a == b => p.province_code == unit.province_code,
        (Division::D63, _) => crate::registry::merged_into(&p.province_code)
            .is_some_and(|m| m.code == unit.province_code),
        (_, _) => crate::registry::merged_into(&unit.province_code)
            .is_some_and(|m| m.code == p.province_code),
    };
    let problems: Vec<Diagnostic> = list
        .iter()
        .filter(|p| !same_province(p))
        .map(|p| {
            let i = tenant
                .spec
                .predecessors
                .iter()
                .position(|q| q.tenant == p.tenant)
                .unwrap_or_default();
            Diagnostic::new(
                "PredecessorOutsideProvince",
                Origin::Tenant,
                format!("/spec/predecessors/{i}/code"),
                Text::new(
                    format!(
                        "predecessor {} ({} {}) is a unit of province {} of the {}-province division, which did not become province {} ({})",
                        p.tenant, p.code, p.name, p.province_code, p.division.as_str(), unit.province_code, unit.province_name
                    ),
                    format!(
                        "đơn vị tiền nhiệm {} ({} {}) thuộc tỉnh {} của danh mục {} tỉnh, không trở thành tỉnh {} ({})",
                        p.tenant, p.code, p.name, p.province_code, p.division.as_str(), unit.province_code, unit.province_name
                    ),
                ),
            )
            .with_hint(Text::new(
                "a tenant can only replace units of its own province (or of the provinces merged into it)",
                "một đơn vị chỉ có thể thay thế các đơn vị thuộc tỉnh của mình (hoặc các tỉnh đã sáp nhập vào)",
            ))
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// `unit.predecessors` as templates see it.
pub fn predecessors_context(list: &[ResolvedPredecessor]) -> Value {
    Value::Array(
        list.iter()
            .map(|p| {
                json!({
                    "tenant": p.tenant, "level": p.level.as_str(), "code": p.code, "name": p.name,
                    "slug": p.slug, "provinceCode": p.province_code, "provinceSlug": p.province_slug,
                    "division": p.division.as_str(), "partial": p.partial,
                    "hostTaken": p.host_taken,
                    // Serve this predecessor's host name here: it came whole, and no unit of
                    // the new division has taken the name.
                    "alias": !p.partial && !p.host_taken,
                })
            })
            .collect(),
    )
}

/// The predecessors whose values go to the `-adopted` Secrets: those of another unit code than
/// the successor's (the one of the same code gives the successor its own Secret's values),
/// taken whole (a `partial` one's secrets go to its other successor).
pub fn of_other_codes<'a>(
    list: &'a [ResolvedPredecessor],
    unit_code: &str,
) -> impl Iterator<Item = &'a ResolvedPredecessor> {
    list.iter()
        .filter(move |p| p.code != unit_code && !p.partial)
}

/// The key of a predecessor's value in an `-adopted` Secret.
pub fn adopted_key(predecessor_code: &str, key: &str) -> String {
    format!("{predecessor_code}.{key}")
}

#[cfg(test)]
#[path = "predecessors_tests.rs"]
mod tests;

//! Whether a tenant's `spec.parent` may be its parent: a province tenant of the same namespace,
//! platform and division that holds the commune's province (or succeeds it mid-reform). Checked
//! before rendering, since the parent's values are merged into the tenant's.

use crate::api::{Level, Tenant};
use crate::diagnostics::{Diagnostic, Origin, Text};
use crate::registry::ResolvedUnit;

pub(super) fn check_parent(
    tenant: &Tenant,
    parent: Option<&Tenant>,
    unit: &ResolvedUnit,
    namespace: &str,
    problems: &mut Vec<Diagnostic>,
) {
    let Some(parent_name) = &tenant.spec.parent else {
        return;
    };
    let issue = |reason, en: String, vi: String| {
        Diagnostic::new(reason, Origin::Tenant, "/spec/parent", Text::new(en, vi))
    };
    if unit.level == Level::Province {
        problems.push(issue(
            "InvalidParent",
            format!("a province cannot have a parent (parent: {parent_name})"),
            format!("tỉnh không thể có đơn vị cha (parent: {parent_name})"),
        ));
        return;
    }
    let Some(parent) = parent else {
        problems.push(
            issue(
                "MissingParent",
                format!("parent tenant {parent_name:?} does not exist in namespace {namespace}"),
                format!("không có đơn vị cha {parent_name:?} trong namespace {namespace}"),
            )
            .with_hint(Text::new(
                "declare the province Tenant in the same namespace, or remove spec.parent",
                "khai báo Tenant của tỉnh trong cùng namespace, hoặc bỏ spec.parent",
            )),
        );
        return;
    };
    let pns = parent.metadata.namespace.as_deref().unwrap_or("default");
    if pns != namespace {
        problems.push(issue(
            "InvalidParent",
            format!("parent {parent_name} is in namespace {pns}, not {namespace}"),
            format!("đơn vị cha {parent_name} nằm ở namespace {pns}, không phải {namespace}"),
        ));
    }
    if parent.spec.platform != tenant.spec.platform {
        problems.push(issue(
            "InvalidParent",
            format!(
                "parent {parent_name} is on platform {:?}, not {:?}",
                parent.spec.platform, tenant.spec.platform
            ),
            format!(
                "đơn vị cha {parent_name} thuộc nền tảng {:?}, không phải {:?}",
                parent.spec.platform, tenant.spec.platform
            ),
        ));
    }
    if parent.spec.parent.is_some() || parent.spec.unit.level != Level::Province {
        problems.push(issue(
            "InvalidParent",
            format!("parent {parent_name} must be a province tenant without a parent of its own"),
            format!("đơn vị cha {parent_name} phải là một tỉnh và không có đơn vị cha"),
        ));
        return;
    }
    let same_division =
        parent.spec.unit.division.as_deref().unwrap_or("34") == unit.division.as_str();
    // Mid-reform, an old commune's province is updated in place into its successor (a new
    // division) before the commune itself is retired: that parent still stands for its province.
    let parent_succeeds_its_province = parent.spec.predecessors.iter().any(|p| {
        p.level == Level::Province
            && p.code == unit.province_code
            && p.division.as_deref().unwrap_or("63") == unit.division.as_str()
    });
    if parent_succeeds_its_province && !same_division {
        return;
    }
    if !same_division {
        // Codes of the two divisions overlap (01 is Hà Nội in both): say what differs.
        let parent_division = parent.spec.unit.division.as_deref().unwrap_or("34");
        problems.push(issue(
            "UnitOutsideProvince",
            format!(
                "{} ({}) is a unit of the {}-province division, but its parent {parent_name} is province {} of the {parent_division}-province division; declare both in one division (unit.division)",
                unit.name,
                unit.code,
                unit.division.as_str(),
                parent.spec.unit.code
            ),
            format!(
                "{} ({}) thuộc danh mục {} tỉnh, nhưng đơn vị cha {parent_name} là tỉnh {} của danh mục {parent_division} tỉnh; hãy khai báo cả hai trong cùng một danh mục (unit.division)",
                unit.name,
                unit.code,
                unit.division.as_str(),
                parent.spec.unit.code
            ),
        ));
    } else if parent.spec.unit.code != unit.province_code {
        problems.push(issue(
            "UnitOutsideProvince",
            format!(
                "{} ({}) is in province {} ({}), but its parent {parent_name} is province {}",
                unit.name, unit.code, unit.province_code, unit.province_name, parent.spec.unit.code
            ),
            format!(
                "{} ({}) thuộc tỉnh {} ({}), nhưng đơn vị cha {parent_name} là tỉnh {}",
                unit.name, unit.code, unit.province_code, unit.province_name, parent.spec.unit.code
            ),
        ));
    }
}

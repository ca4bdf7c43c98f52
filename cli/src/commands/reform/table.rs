//! The plan as the table `-o table` prints: the summary, the open conflicts, unmapped units,
//! province grants, problems and the next step, in English or Vietnamese. Apart from the command
//! because it only formats the plan's JSON, and is most of the command's length.

use std::fmt::Write as _;
use std::path::Path;

use khaibao::diagnostics::Lang;
use khaibao::reform::Plan;
use serde_json::Value;

/// How many conflicts the table lists before pointing at `-o json`.
const TABLE_CONFLICTS: usize = 20;

pub(super) fn table(plan: &Plan, json: &Value, lang: Lang, out: Option<&Path>) -> String {
    let s = &plan.summary;
    let vi = lang == Lang::Vi;
    let mut t = String::new();
    let open = s.conflicts - s.conflicts_resolved;
    let row = |t: &mut String, en: &str, vi_label: &str, v: String| {
        let label = if vi { vi_label } else { en };
        // Padded by characters, not bytes: Vietnamese labels are mostly multi-byte.
        let pad = 26usize.saturating_sub(label.chars().count());
        let _ = writeln!(t, "  {label}{} {v}", " ".repeat(pad));
    };
    let _ = writeln!(
        t,
        "{} {} ({} {} → {})",
        if vi {
            "Kế hoạch sắp xếp"
        } else {
            "Reform plan"
        },
        plan.id,
        if vi { "danh mục" } else { "division" },
        plan.from,
        plan.to
    );
    row(
        &mut t,
        "provinces merged",
        "tỉnh hợp nhất",
        format!("{} → {}", s.provinces_from, s.provinces_to),
    );
    row(
        &mut t,
        "communes",
        "xã/phường",
        format!("{} → {}", s.communes_from, s.communes_to),
    );
    row(
        &mut t,
        "conflicts",
        "xung đột",
        if vi {
            format!(
                "{} ({} đã giải quyết, {open} còn mở)",
                s.conflicts, s.conflicts_resolved
            )
        } else {
            format!(
                "{} ({} resolved, {open} open)",
                s.conflicts, s.conflicts_resolved
            )
        },
    );
    row(&mut t, "splits", "chia tách", s.splits.to_string());
    row(&mut t, "unmapped", "chưa ánh xạ", s.unmapped.to_string());
    row(
        &mut t,
        "secrets carried over",
        "khoá bí mật chuyển giao",
        if vi {
            format!(
                "{} tiếp nhận, {} giữ hiệu lực trong thời gian chuyển tiếp",
                s.secrets_adopted, s.secrets_kept
            )
        } else {
            format!(
                "{} adopted, {} kept valid for the transition",
                s.secrets_adopted, s.secrets_kept
            )
        },
    );
    row(
        &mut t,
        "host names carried over",
        "tên miền chuyển giao",
        if vi {
            format!(
                "{} ({} nay thuộc đơn vị mới cùng tên)",
                s.hosts_carried, s.hosts_taken
            )
        } else {
            format!(
                "{} ({} now belong to a new unit of the same name)",
                s.hosts_carried, s.hosts_taken
            )
        },
    );
    let conflicts = json["conflicts"].as_array().cloned().unwrap_or_default();
    let open_conflicts: Vec<&Value> = conflicts
        .iter()
        .filter(|c| c.get("resolved").is_none())
        .collect();
    if !open_conflicts.is_empty() {
        let _ = writeln!(
            t,
            "{}",
            if vi {
                "Xung đột còn mở:"
            } else {
                "Open conflicts:"
            }
        );
        for c in open_conflicts.iter().take(TABLE_CONFLICTS) {
            let place = |v: &Value| {
                let at = v["at"]
                    .as_str()
                    .map(|a| format!(", {a}"))
                    .unwrap_or_default();
                format!(
                    "{} ({}{at})",
                    v["value"],
                    v["from"].as_str().unwrap_or_default()
                )
            };
            let dropped: Vec<String> = c["dropped"]
                .as_array()
                .into_iter()
                .flatten()
                .map(place)
                .collect();
            let _ = writeln!(
                t,
                "  {} {}: {} {}; {} {}",
                c["successor"].as_str().unwrap_or_default(),
                c["path"].as_str().unwrap_or_default(),
                if vi { "giữ" } else { "kept" },
                place(&c["kept"]),
                if vi { "bỏ" } else { "dropped" },
                dropped.join(", ")
            );
        }
        if open_conflicts.len() > TABLE_CONFLICTS {
            let _ = writeln!(
                t,
                "  … {} {}",
                open_conflicts.len() - TABLE_CONFLICTS,
                if vi {
                    "xung đột nữa (xem -o json)"
                } else {
                    "more (see -o json)"
                }
            );
        }
        let _ = writeln!(
            t,
            "  {}",
            if vi {
                "giải quyết bằng --resolve FILE (successor → /đường/dẫn → giá trị)"
            } else {
                "settle them with --resolve FILE (successor → /json/pointer → value)"
            }
        );
    }
    for u in json["unmapped"].as_array().into_iter().flatten() {
        let at = u["at"]
            .as_str()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default();
        let code = u["code"].as_str().unwrap_or_default();
        let _ = writeln!(
            t,
            "{}: {} {} {code} {}{at}: {}",
            if vi { "chưa ánh xạ" } else { "unmapped" },
            u["tenant"].as_str().unwrap_or_default(),
            u["level"].as_str().unwrap_or_default(),
            u["name"].as_str().unwrap_or_default(),
            if vi {
                format!(
                    "bảng chuyển đổi chính thức không có dòng cho mã này; quyết định bằng --assign {code}=MÃ_MỚI"
                )
            } else {
                format!("the official mapping has no row for it; decide with --assign {code}=NEW")
            }
        );
    }
    match &json["grants"] {
        Value::Array(g) if !g.is_empty() => {
            let _ = writeln!(
                t,
                "{}",
                if vi {
                    "Quyền của cán bộ tỉnh theo kế hoạch (chạy sau khi áp dụng):"
                } else {
                    "Province grants that follow the plan (run after the apply):"
                }
            );
            for x in g {
                let _ = writeln!(t, "  {}", x["command"].as_str().unwrap_or_default());
            }
        }
        Value::Object(e) => {
            let _ = writeln!(
                t,
                "note: {}",
                e.get("error").and_then(Value::as_str).unwrap_or_default()
            );
        }
        _ => {}
    }
    for p in &plan.problems {
        let _ = writeln!(
            t,
            "{}: {}",
            if vi { "lỗi" } else { "error" },
            if vi { &p.vi } else { &p.en }
        );
    }
    if let Some(dir) = out {
        let _ = writeln!(
            t,
            "{} {}. {}",
            if vi { "Đã ghi" } else { "Wrote" },
            dir.display(),
            if vi {
                format!(
                    "Tiếp theo: xem lại, `khaibao apply {}`, rồi phê duyệt việc nghỉ hưu đơn vị cũ bằng `khaibao approve reform {} --platform P`",
                    dir.display(),
                    plan.id
                )
            } else {
                format!(
                    "Next: review, `khaibao apply {}`, then approve the retirements with `khaibao approve reform {} --platform P`",
                    dir.display(),
                    plan.id
                )
            }
        );
    }
    t
}

//! `khaibao report --html FILE`: one self-contained HTML page (no scripts, no external files)
//! with the national picture — a bar per province coloured by readiness, rollout progress — and
//! a section per province. Built from the same summary as `khaibao status`.

use std::path::Path;

use khaibao::diagnostics::Lang;
use serde_json::Value;

use super::status::{fetch, summarize};
use super::{ClusterArgs, block_on};
use crate::Global;
use crate::commands::USAGE;

pub fn run(g: &Global, cluster: &ClusterArgs, platform: Option<&str>, file: &Path) -> u8 {
    let (platforms, tenants) = match block_on(fetch(cluster, platform)) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let html = render_html(&summarize(&platforms, &tenants), g.lang());
    match std::fs::write(file, html) {
        Ok(()) => {
            println!("wrote {}", file.display());
            0
        }
        Err(e) => {
            eprintln!("{}: error: cannot write: {e}", file.display());
            USAGE
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// The page, from `khaibao status -o json`'s summary. Pure, so it is tested without a cluster.
pub fn render_html(summary: &[Value], lang: Lang) -> String {
    let vi = lang == Lang::Vi;
    let t = |en: &'static str, vi_text: &'static str| if vi { vi_text } else { en };
    let mut body = String::new();
    for p in summary {
        let (total, ready) = (n(&p["tenants"]), n(&p["ready"]));
        let pct = if total > 0 { ready * 100 / total } else { 0 };
        body.push_str(&format!(
            "<section><h2>{} <small>({})</small></h2><p class=big>{ready}/{total} {} · {pct}% · {} <code>{}</code></p>",
            esc(p["displayName"].as_str().unwrap_or_default()),
            esc(p["platform"].as_str().unwrap_or_default()),
            t("tenants Ready", "đơn vị sẵn sàng"),
            t("revision", "phiên bản"),
            esc(p["revision"].as_str().unwrap_or("-")),
        ));
        let rows = p["provincesTable"].as_array().cloned().unwrap_or_default();
        // The national picture: one bar per province, its height the share of Ready tenants,
        // its colour green (all Ready), amber (some) or red (failures).
        let (w, h) = (14usize, 120usize);
        let width = rows.len().max(1) * (w + 4) + 40;
        let mut svg = format!(
            "<svg role=img aria-label=\"{}\" width=\"{width}\" height=\"{}\" viewBox=\"0 0 {width} {}\">",
            t("Readiness by province", "Mức sẵn sàng theo tỉnh"),
            h + 40,
            h + 40
        );
        for (i, r) in rows.iter().enumerate() {
            let tenants = n(&r["tenants"]).max(1);
            let ready = n(&r["communesReady"]) + i64::from(r["provinceReady"] == "✓");
            let frac = ready as f64 / tenants as f64;
            let bar = (frac * h as f64).round() as usize;
            let colour = if n(&r["failing"]) > 0 {
                "#c62828"
            } else if frac >= 1.0 {
                "#2e7d32"
            } else {
                "#f9a825"
            };
            let x = 30 + i * (w + 4);
            // A light track shows the full height, tinted red when the province has failures,
            // so a province with nothing Ready is still visible.
            let track = if n(&r["failing"]) > 0 {
                "#ffcdd2"
            } else {
                "#eeeeee"
            };
            svg.push_str(&format!(
                "<g><title>{} {}: {ready}/{tenants}</title><rect x=\"{x}\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"{track}\"/><rect x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"{bar}\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\" font-size=\"8\" transform=\"rotate(-90 {} {})\">{}</text></g>",
                esc(r["code"].as_str().unwrap_or_default()),
                esc(r["name"].as_str().unwrap_or_default()),
                h - bar,
                x + w / 2,
                h + 30,
                x + w / 2,
                h + 30,
                esc(r["code"].as_str().unwrap_or_default()),
            ));
        }
        svg.push_str(&format!(
            "<line x1=\"28\" y1=\"{h}\" x2=\"{width}\" y2=\"{h}\" stroke=\"#555\"/></svg>"
        ));
        body.push_str(&format!(
            "<h3>{}</h3>{svg}",
            t("Readiness by province", "Mức sẵn sàng theo tỉnh")
        ));
        let on_rev: i64 = rows.iter().map(|r| n(&r["onRevision"])).sum();
        let rollout_pct = if total > 0 { on_rev * 100 / total } else { 0 };
        body.push_str(&format!(
            "<h3>{}</h3><div class=progress><div style=\"width:{rollout_pct}%\"></div></div><p>{on_rev}/{total} {}</p>",
            t("Rollout", "Triển khai phiên bản"),
            t("tenants on the current revision", "đơn vị đang ở phiên bản hiện hành"),
        ));
        if let Some(r) = p["rollout"].as_object() {
            body.push_str(&format!(
                "<p>{} {} → {}: {} ({} {}/{})</p>",
                t("Rollout of revision", "Triển khai phiên bản"),
                esc(r["from"].as_str().unwrap_or("-")),
                esc(r["to"].as_str().unwrap_or("-")),
                esc(r["phase"].as_str().unwrap_or("-")),
                t("wave", "đợt"),
                r["wavesStarted"],
                r["waves"]
            ));
        }
        body.push_str(&format!(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            t("Code", "Mã"), t("Province", "Tỉnh"), t("Province ready", "Tỉnh sẵn sàng"), t("Communes ready", "Xã/phường sẵn sàng"),
            t("Failing", "Lỗi"), t("On revision", "Phiên bản mới"),
        ));
        for r in &rows {
            body.push_str(&format!(
                "<tr id=\"p{code}\"><td>{code}</td><td>{}</td><td>{}</td><td>{}/{}</td><td class=\"{}\">{}</td><td>{}/{}</td></tr>",
                esc(r["name"].as_str().unwrap_or_default()),
                esc(r["provinceReady"].as_str().unwrap_or_default()),
                n(&r["communesReady"]), n(&r["communes"]),
                if n(&r["failing"]) > 0 { "bad" } else { "" }, n(&r["failing"]),
                n(&r["onRevision"]), n(&r["tenants"]),
                code = esc(r["code"].as_str().unwrap_or_default()),
            ));
        }
        body.push_str("</tbody></table>");
        let failing = p["notReadyTenants"].as_array().cloned().unwrap_or_default();
        if !failing.is_empty() {
            body.push_str(&format!("<h3>{}</h3><ul>", t("Not Ready", "Chưa sẵn sàng")));
            for f in failing.iter().take(100) {
                body.push_str(&format!(
                    "<li><b>{}</b> {} — {}: {}</li>",
                    esc(f["tenant"].as_str().unwrap_or_default()),
                    esc(f["unit"].as_str().unwrap_or_default()),
                    esc(f["reason"].as_str().unwrap_or_default()),
                    esc(f["message"].as_str().unwrap_or_default()),
                ));
            }
            body.push_str("</ul>");
        }
        body.push_str("</section>");
    }
    format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title><style>{}</style></head><body><h1>{}</h1>{body}</body></html>\n",
        if vi { "vi" } else { "en" },
        t("khaibao: national status", "khaibao: tình trạng toàn quốc"),
        "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}.bad{color:#c62828;font-weight:bold}.big{font-size:1.4rem}.progress{background:#eee;width:30rem;height:1rem}.progress div{background:#1565c0;height:1rem}",
        t("National status", "Tình trạng toàn quốc"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_page_is_self_contained_and_escapes_names() {
        let summary = vec![json!({
            "platform": "dichvucong", "displayName": "Cổng <dịch vụ>", "revision": "abc", "tenants": 2, "ready": 1,
            "provincesTable": [{"code": "01", "name": "Hà Nội", "provinceReady": "✓", "communes": 1, "communesReady": 0, "failing": 1, "onRevision": 2, "tenants": 2}],
            "notReadyTenants": [{"tenant": "tinh-01/x", "unit": "00004 Phường Ba Đình", "reason": "SchemaViolation", "message": "a < b"}],
        })];
        let html = render_html(&summary, Lang::Vi);
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("Cổng &lt;dịch vụ&gt;") && html.contains("a &lt; b"));
        assert!(html.contains("<svg") && html.contains("Tình trạng toàn quốc"));
        assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="));
    }
}

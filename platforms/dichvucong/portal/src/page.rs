//! The HTML a citizen sees: a unit's page, and the pages of the answers that are not one
//! (unknown host, a unit merged away, a unit whose configuration is broken). Every value from a
//! ConfigMap is escaped: tenants are configuration written by many hands.

use std::fmt::Write;

use chrono::NaiveDate;

use crate::site::{Broken, Page, Site};

/// Vietnamese names of the national catalogue's procedures that the examples use; any other
/// slug is shown as it is rather than refused, so a new procedure never breaks a page.
const CATALOGUE: &[(&str, &str)] = &[
    (
        "cap-ban-sao-trich-luc-ho-tich",
        "Cấp bản sao trích lục hộ tịch",
    ),
    ("dang-ky-khai-sinh", "Đăng ký khai sinh"),
    ("dang-ky-khai-tu", "Đăng ký khai tử"),
    ("dang-ky-ket-hon", "Đăng ký kết hôn"),
    ("dang-ky-thuong-tru", "Đăng ký thường trú"),
    ("dang-ky-tam-tru", "Đăng ký tạm trú"),
    ("cap-giay-phep-xay-dung", "Cấp giấy phép xây dựng"),
    ("dang-ky-ho-kinh-doanh", "Đăng ký hộ kinh doanh"),
    ("cap-phieu-ly-lich-tu-phap", "Cấp phiếu lý lịch tư pháp"),
];

pub fn service_name(slug: &str) -> &str {
    CATALOGUE
        .iter()
        .find(|(s, _)| *s == slug)
        .map_or(slug, |(_, name)| name)
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn frame(title: &str, color: &str, body: &str) -> String {
    let color = if color.is_empty() { "#c8102e" } else { color };
    format!(
        "<!DOCTYPE html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>body{{font-family:sans-serif;margin:0}}\
         header{{background:{color};color:#fff;padding:1em;display:flex;gap:1em;align-items:center}}\
         header img{{height:3em}}main{{padding:1em;max-width:48em}}dt{{font-weight:bold}}</style>\n\
         </head>\n<body>\n{body}</body>\n</html>\n",
        title = escape(title),
        color = escape(color),
    )
}

fn date_vi(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

pub fn unit_page(site: &Site, page: &Page) -> String {
    let mut body = String::new();
    let _ = write!(body, "<header>");
    if !page.logo.is_empty() {
        let _ = write!(
            body,
            "<img src=\"{}\" alt=\"Quốc huy\">",
            escape(&page.logo)
        );
    }
    let _ = writeln!(body, "<h1>{}</h1></header>\n<main>", escape(&page.title));
    let place = if page.unit_level == "commune" && !page.province_name.is_empty() {
        format!("{}, {}", page.unit_name, page.province_name)
    } else {
        page.unit_name.clone()
    };
    let _ = writeln!(
        body,
        "<p class=\"unit\" data-unit-code=\"{}\">{}</p>",
        escape(&page.unit_code),
        escape(&place)
    );
    let _ = writeln!(body, "<h2>Thủ tục trực tuyến</h2>");
    if page.services.is_empty() {
        let _ = writeln!(body, "<p>Đơn vị chưa cung cấp thủ tục trực tuyến nào.</p>");
    } else {
        let _ = writeln!(body, "<ul>");
        for s in &page.services {
            let _ = writeln!(
                body,
                "<li data-service=\"{}\">{}</li>",
                escape(s),
                escape(service_name(s))
            );
        }
        let _ = writeln!(body, "</ul>");
    }
    let _ = writeln!(body, "<h2>Liên hệ</h2>\n<dl>");
    for (label, value) in [
        ("Đường dây nóng", &page.hotline),
        ("Thư điện tử", &page.email),
        ("Địa chỉ", &page.address),
        ("Giờ làm việc", &page.office_hours),
    ] {
        if !value.is_empty() {
            let _ = writeln!(body, "<dt>{label}</dt><dd>{}</dd>", escape(value));
        }
    }
    let _ = writeln!(body, "</dl>");
    let _ = writeln!(
        body,
        "<p>Thanh toán trực tuyến: {}</p>",
        if page.online_payment {
            "có"
        } else {
            "chưa hỗ trợ"
        }
    );
    if !site.aliases.is_empty() {
        let until = site
            .transition_until
            .map(|d| format!(" đến hết ngày {}", date_vi(d)))
            .unwrap_or_default();
        let _ = writeln!(
            body,
            "<p class=\"aliases\">Các địa chỉ cũ {} vẫn dẫn về cổng này{until}.</p>",
            escape(&site.aliases.join(", "))
        );
    }
    let _ = writeln!(
        body,
        "</main>\n<footer>Mã đơn vị hành chính: {}</footer>",
        escape(&page.unit_code)
    );
    frame(&page.title, &page.primary_color, &body)
}

pub fn unknown_host(host: &str) -> String {
    frame(
        "Không tìm thấy / Not found",
        "",
        &format!(
            "<main><h1>Không tìm thấy cổng dịch vụ công</h1>\n\
             <p>Không có đơn vị nào được phục vụ tại địa chỉ <code>{h}</code>.</p>\n\
             <p lang=\"en\">No portal is served at <code>{h}</code>.</p></main>\n",
            h = escape(host)
        ),
    )
}

/// A predecessor's host after the transition: the citizen is told where the unit went.
pub fn merged_away(host: &str, site: &Site) -> String {
    let name = site
        .content
        .as_ref()
        .map(|p| p.unit_name.clone())
        .unwrap_or_default();
    frame(
        "Đơn vị đã sáp nhập / Unit merged",
        "",
        &format!(
            "<main><h1>Đơn vị đã sáp nhập</h1>\n\
             <p>Địa chỉ <code>{h}</code> không còn được phục vụ. Mời truy cập cổng của {n}: \
             <a href=\"https://{to}/\">{to}</a>.</p>\n\
             <p lang=\"en\"><code>{h}</code> is no longer served; its unit is now part of {n} at \
             {to}.</p></main>\n",
            h = escape(host),
            n = escape(&name),
            to = escape(&site.host),
        ),
    )
}

/// A unit whose ConfigMap the portal cannot read. It names the ConfigMap and the fields (never
/// their values beyond what is public on the page anyway), so whoever declared the unit knows what
/// to change; the other units are not affected.
pub fn broken(host: &str, broken: &Broken) -> String {
    let mut items = String::new();
    for p in &broken.problems {
        let _ = writeln!(items, "<li>{}</li>", escape(p));
    }
    frame(
        "Cấu hình không hợp lệ / Invalid configuration",
        "",
        &format!(
            "<main><h1>Cổng của đơn vị này tạm thời không hiển thị được</h1>\n\
             <p>Cấu hình của <code>{h}</code> (ConfigMap <code>{cm}</code>) không hợp lệ:</p>\n\
             <ul>\n{items}</ul>\n\
             <p lang=\"en\">The configuration of {h} (ConfigMap {cm}) is invalid; fix the fields \
             above in the unit's Tenant or in the platform's template.</p></main>\n",
            h = escape(host),
            cm = escape(&broken.config_map),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_catalogue_names_used() {
        assert_eq!(
            escape("<b a=\"1\">&'</b>"),
            "&lt;b a=&quot;1&quot;&gt;&amp;&#39;&lt;/b&gt;"
        );
        assert_eq!(service_name("dang-ky-khai-sinh"), "Đăng ký khai sinh");
        assert_eq!(service_name("thu-tuc-moi"), "thu-tuc-moi");
    }

    #[test]
    fn a_commune_page_names_its_province_and_old_addresses() {
        let page = Page {
            unit_code: "00004".into(),
            unit_name: "Phường Ba Đình".into(),
            unit_level: "commune".into(),
            unit_type: "phường".into(),
            province_name: "Thành phố Hà Nội".into(),
            title: "Cổng dịch vụ công Phường Ba Đình".into(),
            primary_color: "#00529c".into(),
            logo: String::new(),
            hotline: "024 1022".into(),
            email: String::new(),
            address: "<script>".into(),
            office_hours: String::new(),
            online_payment: false,
            services: vec!["dang-ky-khai-sinh".into()],
        };
        let site = Site {
            tenant: "t".into(),
            host: "phuong-ba-dinh.ha-noi.example.vn".into(),
            aliases: vec!["phuong-truc-bach.ha-noi.example.vn".into()],
            transition_until: NaiveDate::from_ymd_opt(2026, 12, 31),
            content: Ok(page.clone()),
            keys: Default::default(),
        };
        let html = unit_page(&site, &page);
        assert!(html.contains("Phường Ba Đình, Thành phố Hà Nội"), "{html}");
        assert!(html.contains("<li data-service=\"dang-ky-khai-sinh\">Đăng ký khai sinh</li>"));
        assert!(html.contains(
            "phuong-truc-bach.ha-noi.example.vn vẫn dẫn về cổng này đến hết ngày 31/12/2026"
        ));
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
        assert!(html.contains("chưa hỗ trợ"));
    }
}

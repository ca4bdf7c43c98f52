//! One unit's site as the portal serves it, read from the ConfigMaps and Secrets that carry its
//! tenant label. Pure, so that what a malformed ConfigMap does to a site is unit-tested without a
//! cluster: the watch feeds objects in, the server reads the result.
//!
//! The ConfigMaps are told apart by their keys, not their names: the one with `host` is the page
//! (the template's `portal-config`), the one with `apiKeySecret` names the key Secrets. Names are
//! the operator's business (stem, shortening) and the portal should not depend on them.

use std::collections::BTreeMap;

use chrono::NaiveDate;

/// The objects of one tenant, as the watch last saw them: data only, nothing else is kept.
#[derive(Default, Debug, Clone)]
pub struct TenantObjects {
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    pub secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

impl TenantObjects {
    pub fn is_empty(&self) -> bool {
        self.config_maps.is_empty() && self.secrets.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub unit_code: String,
    pub unit_name: String,
    pub unit_level: String,
    pub unit_type: String,
    pub province_name: String,
    pub title: String,
    pub primary_color: String,
    pub logo: String,
    pub hotline: String,
    pub email: String,
    pub address: String,
    pub office_hours: String,
    pub online_payment: bool,
    pub services: Vec<String>,
}

/// Why a site cannot be shown: its host answers this instead of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken {
    pub config_map: String,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiKeys {
    /// The unit's own key, once its Secret has been seen.
    pub own: Option<Vec<u8>>,
    /// Keys of predecessors of other unit codes, by code, accepted until the transition ends.
    pub adopted: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// The `khaibao.dev/tenant` label: also the `tenant` label of the portal's metrics.
    pub tenant: String,
    pub host: String,
    /// Predecessors' host names, served (redirected) until `transition_until`.
    pub aliases: Vec<String>,
    pub transition_until: Option<NaiveDate>,
    pub content: Result<Page, Broken>,
    pub keys: ApiKeys,
}

#[derive(Debug, PartialEq)]
pub enum KeyCheck {
    Own,
    /// A predecessor's key, accepted during the transition.
    Adopted(String),
    Wrong,
    /// No key Secret seen yet for this unit.
    NotLoaded,
}

const HEX_COLOR_LEN: usize = 7;

impl Site {
    /// The site of `tenant`, or `None` while none of its ConfigMaps says which host it has
    /// (e.g. only its Secret has arrived so far).
    pub fn from_objects(tenant: &str, objects: &TenantObjects) -> Option<Site> {
        let mut pages = objects
            .config_maps
            .iter()
            .filter(|(_, data)| data.contains_key("host"));
        let (page_name, data) = pages.next()?;
        let mut problems = Vec::new();
        if let Some((other, _)) = pages.next() {
            problems.push(format!(
                "ConfigMaps {page_name} and {other} both set `host`; one unit has one page"
            ));
        }
        let host = normalise_host(&data["host"]);
        if !is_host_name(&host) {
            problems.push(format!("`host` {:?} is not a DNS name", data["host"]));
        }
        let aliases: Vec<String> = data
            .get("aliases")
            .map(|a| {
                a.split(',')
                    .map(normalise_host)
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        for alias in aliases.iter().filter(|a| !is_host_name(a)) {
            problems.push(format!("alias {alias:?} in `aliases` is not a DNS name"));
        }
        let transition_until = match data.get("transitionUntil").map(|s| s.trim()) {
            None | Some("") => None,
            Some(s) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    problems.push(format!(
                        "`transitionUntil` {s:?} is not a date (YYYY-MM-DD)"
                    ));
                    None
                }
            },
        };
        let services_map = objects
            .config_maps
            .values()
            .find(|d| d.contains_key("apiKeySecret"));
        let page = read_page(data, services_map, &mut problems);
        let content = if problems.is_empty() {
            Ok(page)
        } else {
            Err(Broken {
                config_map: page_name.clone(),
                problems,
            })
        };
        Some(Site {
            tenant: tenant.to_string(),
            host,
            aliases,
            transition_until,
            content,
            keys: read_keys(services_map, &objects.secrets),
        })
    }

    /// Whether the predecessors' host names and keys still hold on `today` (the last day
    /// included). A site without a date keeps its aliases: the template lists them only while
    /// the tenant names predecessors.
    pub fn in_transition(&self, today: NaiveDate) -> bool {
        self.transition_until.is_none_or(|until| today <= until)
    }

    pub fn check_key(&self, presented: &[u8], today: NaiveDate) -> KeyCheck {
        let own = self.keys.own.as_deref();
        if own.is_none() && self.keys.adopted.is_empty() {
            return KeyCheck::NotLoaded;
        }
        if own.is_some_and(|k| same_bytes(k, presented)) {
            return KeyCheck::Own;
        }
        if self.in_transition(today) {
            for (code, key) in &self.keys.adopted {
                if same_bytes(key, presented) {
                    return KeyCheck::Adopted(code.clone());
                }
            }
        }
        KeyCheck::Wrong
    }
}

fn read_page(
    data: &BTreeMap<String, String>,
    services: Option<&BTreeMap<String, String>>,
    problems: &mut Vec<String>,
) -> Page {
    let mut required = |key: &str| match data.get(key).map(|v| v.trim()) {
        Some(v) if !v.is_empty() => v.to_string(),
        _ => {
            problems.push(format!("`{key}` is missing or empty"));
            String::new()
        }
    };
    let unit_code = required("unitCode");
    let unit_name = required("unitName");
    let title = required("title");
    let optional = |key: &str| {
        data.get(key)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let primary_color = optional("primaryColor");
    if !primary_color.is_empty() && !is_hex_color(&primary_color) {
        problems.push(format!(
            "`primaryColor` {primary_color:?} is not a colour like #c8102e"
        ));
    }
    let logo = optional("logo");
    let web_address = logo.starts_with("https://") || logo.starts_with("http://");
    if !logo.is_empty() && !web_address {
        problems.push(format!("`logo` {logo:?} is not an http(s) address"));
    }
    let online_payment = match data.get("onlinePayment").map(|v| v.trim()) {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            problems.push(format!(
                "`onlinePayment` {other:?} is neither true nor false"
            ));
            false
        }
    };
    Page {
        unit_code,
        unit_name,
        unit_level: optional("unitLevel"),
        unit_type: optional("unitType"),
        province_name: optional("provinceName"),
        title,
        primary_color,
        logo,
        hotline: optional("hotline"),
        email: optional("email"),
        address: optional("address"),
        office_hours: optional("officeHours"),
        online_payment,
        services: services
            .and_then(|s| s.get("services"))
            .map(|s| {
                s.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn read_keys(
    services: Option<&BTreeMap<String, String>>,
    secrets: &BTreeMap<String, BTreeMap<String, Vec<u8>>>,
) -> ApiKeys {
    let Some(services) = services else {
        return ApiKeys::default();
    };
    let own = services
        .get("apiKeySecret")
        .and_then(|name| secrets.get(name.trim()))
        .and_then(|s| s.get("token"))
        .filter(|k| !k.is_empty())
        .cloned();
    let adopted = services
        .get("adoptedApiKeySecret")
        .and_then(|name| secrets.get(name.trim()))
        .map(|s| {
            s.iter()
                .filter_map(|(k, v)| Some((k.strip_suffix(".token")?.to_string(), v.clone())))
                .filter(|(_, v)| !v.is_empty())
                .collect()
        })
        .unwrap_or_default();
    ApiKeys { own, adopted }
}

/// Lower case, no port, no trailing dot: how a `Host` header and a configured host compare.
pub fn normalise_host(raw: &str) -> String {
    let raw = raw.trim();
    let without_port = match raw.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => raw,
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

fn is_host_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_hex_color(c: &str) -> bool {
    c.len() == HEX_COLOR_LEN && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Compares without stopping at the first difference, so the time taken does not tell how much
/// of a guessed key was right.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[path = "site_tests.rs"]
mod tests;

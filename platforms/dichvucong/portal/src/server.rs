//! What the portal answers. `App::answer` decides from the Host, the path and the presented key
//! alone (pure but for the clock, which is injected), so every answer is unit-tested; the axum
//! part only turns requests and replies into each other and counts them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use chrono::NaiveDate;
use serde_json::json;

use crate::index::{Index, Route};
use crate::metrics::{Metrics, RequestLabels};
use crate::page;
use crate::site::{KeyCheck, Site};

pub const API_PATH: &str = "/api/v1/unit";

pub type Clock = Arc<dyn Fn() -> NaiveDate + Send + Sync>;

pub struct App {
    pub index: RwLock<Index>,
    pub metrics: Metrics,
    /// Set once the first list of ConfigMaps and of Secrets is in: before that an unknown host
    /// may only be not loaded yet, so the portal is not ready.
    pub config_maps_synced: AtomicBool,
    pub secrets_synced: AtomicBool,
    pub today: Clock,
}

#[derive(Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub location: Option<String>,
    pub challenge: bool,
    /// The `tenant` label the request is counted under.
    pub tenant: String,
}

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";

impl Reply {
    fn html(status: u16, tenant: &str, body: String) -> Reply {
        Reply {
            status,
            content_type: HTML,
            body,
            location: None,
            challenge: false,
            tenant: tenant.to_string(),
        }
    }

    fn json(status: u16, tenant: &str, body: serde_json::Value) -> Reply {
        Reply {
            content_type: JSON,
            body: body.to_string(),
            ..Reply::html(status, tenant, String::new())
        }
    }
}

impl App {
    pub fn new(today: Clock) -> App {
        App {
            index: RwLock::new(Index::default()),
            metrics: Metrics::default(),
            config_maps_synced: AtomicBool::new(false),
            secrets_synced: AtomicBool::new(false),
            today,
        }
    }

    pub fn ready(&self) -> bool {
        self.config_maps_synced.load(Ordering::Acquire)
            && self.secrets_synced.load(Ordering::Acquire)
    }

    /// Call after changing the index, so that the gauges follow it.
    pub fn index_changed(&self) {
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        self.metrics.sites.set(index.site_count() as i64);
        self.metrics.broken_sites.set(index.broken_count() as i64);
        self.metrics.updates.inc();
    }

    /// `target` is the request's path and query; the query matters only to a redirect.
    pub fn answer(&self, host: &str, target: &str, key: Option<&str>) -> Reply {
        let path = target.split_once('?').map_or(target, |(p, _)| p);
        // The read lock is held only to clone an Arc: a page is rendered without it.
        let route = match self.index.read() {
            Ok(ix) => ix.route(host),
            Err(poisoned) => poisoned.into_inner().route(host),
        };
        let today = (self.today)();
        match route {
            Route::Unknown => Reply::html(404, "", page::unknown_host(host)),
            Route::Alias(site) if !site.in_transition(today) => {
                Reply::html(410, &site.tenant, page::merged_away(host, &site))
            }
            Route::Alias(site) => {
                if path == API_PATH {
                    return api(&site, key, today);
                }
                Reply {
                    location: Some(format!("https://{}{target}", site.host)),
                    ..Reply::html(301, &site.tenant, String::new())
                }
            }
            Route::Own(site) if path == API_PATH => api(&site, key, today),
            Route::Own(site) => match &site.content {
                Err(broken) => Reply::html(500, &site.tenant, page::broken(host, broken)),
                Ok(p) if path == "/" || path == "/index.html" => {
                    Reply::html(200, &site.tenant, page::unit_page(&site, p))
                }
                Ok(_) => Reply::html(
                    404,
                    &site.tenant,
                    page::unknown_host(&format!("{host}{path}")),
                ),
            },
        }
    }
}

/// The unit's API: its identity and services for a caller holding its key. Answers which key
/// was used, so that a client still on a merged unit's key sees it must move before the
/// transition ends.
fn api(site: &Site, key: Option<&str>, today: NaiveDate) -> Reply {
    let t = &site.tenant;
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Reply {
            challenge: true,
            ..Reply::json(
                401,
                t,
                json!({"error": "an API key is required (Authorization: Bearer <key>)"}),
            )
        };
    };
    let used = match site.check_key(key.as_bytes(), today) {
        KeyCheck::Own => json!({"key": "own"}),
        KeyCheck::Adopted(code) => json!({"key": "adopted", "adoptedFrom": code}),
        KeyCheck::Wrong => {
            return Reply {
                challenge: true,
                ..Reply::json(401, t, json!({"error": "the API key is not this unit's"}))
            };
        }
        KeyCheck::NotLoaded => {
            return Reply::json(
                503,
                t,
                json!({"error": "this unit's API key is not loaded yet; retry shortly"}),
            );
        }
    };
    match &site.content {
        Err(b) => Reply::json(
            500,
            t,
            json!({"error": format!("the unit's ConfigMap {} is invalid", b.config_map), "problems": b.problems}),
        ),
        Ok(p) => {
            let mut body = json!({
                "unitCode": p.unit_code,
                "unitName": p.unit_name,
                "host": site.host,
                "services": p.services,
            });
            if let (Some(obj), Some(used)) = (body.as_object_mut(), used.as_object()) {
                obj.extend(used.clone());
            }
            Reply::json(200, t, body)
        }
    }
}

fn presented_key(req: &Request) -> Option<&str> {
    let h = req.headers();
    if let Some(v) = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return Some(v.strip_prefix("Bearer ").unwrap_or(v).trim());
    }
    h.get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

async fn site(State(app): State<Arc<App>>, req: Request) -> Response {
    let started = Instant::now();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let target = req.uri().path_and_query().map_or_else(
        || req.uri().path().to_string(),
        |pq| pq.as_str().to_string(),
    );
    let reply = app.answer(&host, &target, presented_key(&req));
    app.metrics
        .requests
        .get_or_create(&RequestLabels {
            tenant: reply.tenant.clone(),
            code: reply.status,
        })
        .inc();
    app.metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    let mut resp = Response::new(Body::from(reply.body));
    *resp.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    if let Some(loc) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, loc);
    }
    if reply.challenge {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

async fn readyz(State(app): State<Arc<App>>) -> (StatusCode, &'static str) {
    if app.ready() {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "tenant ConfigMaps and Secrets not listed yet",
        )
    }
}

async fn metrics(State(app): State<Arc<App>>) -> ([(header::HeaderName, &'static str); 1], String) {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.encode(),
    )
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(site)
        .with_state(app)
}

pub async fn serve(listener: tokio::net::TcpListener, app: Arc<App>) -> std::io::Result<()> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(
        ?addr,
        "serving tenant pages, /healthz, /readyz and /metrics"
    );
    axum::serve(listener, router(app)).await
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;

//! Plain HTTP/1.1 GETs to processes the tests run on 127.0.0.1 (the portal, Prometheus), with
//! the `Host` and other headers a test names: what a browser or an ingress would send.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// How long one request may take: the processes are local, so this only bounds a hung one.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn client() -> &'static Client<HttpConnector, Empty<Bytes>> {
    static CLIENT: OnceLock<Client<HttpConnector, Empty<Bytes>>> = OnceLock::new();
    CLIENT.get_or_init(|| Client::builder(TokioExecutor::new()).build_http())
}

/// `GET http://<addr><path_and_query>` with `headers` (a `host` among them replaces the
/// address as the Host header).
pub async fn get(
    addr: SocketAddr,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<Reply> {
    let mut req = http::Request::get(format!("http://{addr}{path_and_query}"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .context("building the request")?;
    let what = format!("GET http://{addr}{path_and_query}");
    let resp = tokio::time::timeout(TIMEOUT, client().request(req))
        .await
        .with_context(|| format!("{what}: no answer within {TIMEOUT:?}"))?
        .with_context(|| what.clone())?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = tokio::time::timeout(TIMEOUT, resp.into_body().collect())
        .await
        .with_context(|| format!("{what}: body not read within {TIMEOUT:?}"))?
        .with_context(|| format!("{what}: reading the body"))?
        .to_bytes();
    Ok(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

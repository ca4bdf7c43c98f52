//! The portal's pages: what a correct page holds, and which page ConfigMaps the bench's watch
//! has seen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::stream::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use khaibao_e2e::http::Reply;
use kube::Client;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::{Notify, oneshot};

use crate::fleet::{PLATFORM_NAMESPACE, PageKey};

/// The portal's own label selector (`platforms/dichvucong/templates/shared/portal.yaml.hbs`).
const PAGE_SELECTOR: &str = "khaibao.dev/platform=dichvucong,khaibao.dev/tenant";

/// The page tests of one tenant, made once rather than per poll.
pub(super) struct Expected {
    code: String,
    name: String,
}

impl Expected {
    pub(super) fn of(page: &PageKey) -> Expected {
        Expected {
            code: format!("data-unit-code=\"{}\"", escape(&page.unit_code)),
            name: escape(&page.unit_name),
        }
    }

    pub(super) fn matches(&self, r: &Reply) -> bool {
        r.status == 200 && r.body.contains(&self.code) && r.body.contains(&self.name)
    }
}

/// The portal escapes every ConfigMap value; so must what its page is searched for.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Which hosts' page ConfigMaps the bench's watch has seen and which pages were found, so a
/// host is polled fast only while its page can be about to appear.
pub(super) struct Pages {
    index: HashMap<String, usize>,
    state: Mutex<PageState>,
    pub(super) wake: Vec<Notify>,
}

#[derive(Default)]
struct PageState {
    seen: Vec<bool>,
    online: Vec<bool>,
    /// Seen and not online: the hosts on the fast cadence.
    hot: usize,
}

impl Pages {
    pub(super) fn new(pages: &[PageKey]) -> Pages {
        Pages {
            index: pages
                .iter()
                .enumerate()
                .map(|(i, p)| (p.host.clone(), i))
                .collect(),
            state: Mutex::new(PageState {
                seen: vec![false; pages.len()],
                online: vec![false; pages.len()],
                hot: 0,
            }),
            wake: (0..pages.len()).map(|_| Notify::new()).collect(),
        }
    }

    fn mark_seen(&self, host: &str) {
        let Some(&i) = self.index.get(host) else {
            return;
        };
        // Never poisoned: nothing panics while it is held.
        let mut s = self.state.lock().expect("pages lock");
        if !s.seen[i] {
            s.seen[i] = true;
            if !s.online[i] {
                s.hot += 1;
            }
            // A permit is kept when the host's poller is not waiting yet.
            self.wake[i].notify_one();
        }
    }

    pub(super) fn mark_online(&self, i: usize) {
        // Never poisoned: nothing panics while it is held.
        let mut s = self.state.lock().expect("pages lock");
        if !s.online[i] {
            s.online[i] = true;
            if s.seen[i] {
                s.hot -= 1;
            }
        }
    }

    /// Whether the host's ConfigMap was seen, and how many hosts are on the fast cadence.
    pub(super) fn seen(&self, i: usize) -> (bool, usize) {
        // Never poisoned: nothing panics while it is held.
        let s = self.state.lock().expect("pages lock");
        (s.seen[i], s.hot)
    }

    pub(super) fn online(&self) -> usize {
        // Never poisoned: nothing panics while it is held.
        let s = self.state.lock().expect("pages lock");
        s.online.iter().filter(|o| **o).count()
    }
}

/// A task stopped when this is dropped: the watch must not outlive its control plane, also
/// when a phase fails.
pub(super) struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Watches the platform namespace's page ConfigMaps with the portal's selector; the receiver
/// fires once the initial list is done, so no ConfigMap made after it can be missed.
pub(super) fn watch_pages(client: Client, pages: Arc<Pages>) -> (Task, oneshot::Receiver<()>) {
    let api: Api<ConfigMap> = Api::namespaced(client, PLATFORM_NAMESPACE);
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        let mut listed = Some(tx);
        let mut events = watcher(api, watcher::Config::default().labels(PAGE_SELECTOR))
            .default_backoff()
            .boxed();
        while let Some(ev) = events.next().await {
            let Ok(ev) = ev else { continue };
            match ev {
                watcher::Event::Apply(cm) | watcher::Event::InitApply(cm) => {
                    if let Some(host) = cm.data.as_ref().and_then(|d| d.get("host")) {
                        pages.mark_seen(host.trim());
                    }
                }
                watcher::Event::InitDone => {
                    if let Some(tx) = listed.take() {
                        let _ = tx.send(());
                    }
                }
                watcher::Event::Init | watcher::Event::Delete(_) => {}
            }
        }
    });
    (Task(task), rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_correct_only_with_its_own_unit() {
        let page = PageKey {
            host: "xa-a.tinh.dichvucong.gov.vn".into(),
            unit_code: "00004".into(),
            unit_name: "Phường Trúc Bạch".into(),
        };
        let e = Expected::of(&page);
        let reply = |status, body: &str| Reply {
            status,
            headers: Default::default(),
            body: body.into(),
        };
        let own =
            "<p class=\"unit\" data-unit-code=\"00004\">Phường Trúc Bạch, Thành phố Hà Nội</p>";
        assert!(e.matches(&reply(200, own)));
        assert!(!e.matches(&reply(404, own)));
        assert!(!e.matches(&reply(
            200,
            "<p class=\"unit\" data-unit-code=\"00007\">Phường Trúc Bạch</p>"
        )));
        assert!(!e.matches(&reply(
            200,
            "<p data-unit-code=\"00004\">Phường Quán Thánh</p>"
        )));
    }
}

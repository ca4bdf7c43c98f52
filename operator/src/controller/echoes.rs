//! The watch events this operator's own writes cause ("echoes"). Each write to a tenant's
//! objects or status comes back as a watch event that would wake the tenant again, only to find
//! what it just wrote: at cold start that is five or six reconciles per tenant (each one
//! rendering its templates) for one that did the work. A write is remembered with the
//! resourceVersion the API server returned; the event carrying exactly that version wakes
//! nobody. Any other version (a hand edit, a deletion, another writer) still does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a write waits for its echo. A no-op write (server-side apply of an unchanged
/// object) keeps its resourceVersion and never echoes; such entries are dropped after this.
const WAIT: Duration = Duration::from_secs(60);
/// Above this many entries, the ones older than `WAIT` are dropped on the way.
const PRUNE_ABOVE: usize = 4096;

#[derive(Default)]
pub struct Echoes {
    pending: Mutex<HashMap<String, (String, Instant)>>,
}

/// The key of an object: `kind/namespace/name`.
pub fn key(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind}/{namespace}/{name}")
}

impl Echoes {
    /// Remembers that this operator wrote `key` and got `resource_version` back.
    pub fn wrote(&self, key: String, resource_version: Option<&str>) {
        let Some(rv) = resource_version else { return };
        if let Ok(mut m) = self.pending.lock() {
            if m.len() > PRUNE_ABOVE {
                m.retain(|_, (_, at)| at.elapsed() < WAIT);
            }
            m.insert(key, (rv.to_string(), Instant::now()));
        }
    }

    /// True if this event of `key` at `resource_version` is the echo of our last write of it
    /// (it is then forgotten: an echo comes once).
    pub fn is_echo(&self, key: &str, resource_version: Option<&str>) -> bool {
        let Ok(mut m) = self.pending.lock() else {
            return false;
        };
        match (m.get(key), resource_version) {
            (Some((rv, _)), Some(seen)) if rv == seen => {
                m.remove(key);
                true
            }
            _ => false,
        }
    }

    pub fn len(&self) -> usize {
        self.pending.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_version_we_wrote_is_an_echo_and_only_once() {
        let e = Echoes::default();
        let k = key("ConfigMap", "dichvucong", "ha-noi-config");
        e.wrote(k.clone(), Some("41"));
        assert!(!e.is_echo(&k, Some("40")), "an older version is not ours");
        assert!(!e.is_echo(&key("ConfigMap", "dichvucong", "hue-config"), Some("41")));
        assert!(e.is_echo(&k, Some("41")));
        assert!(
            !e.is_echo(&k, Some("41")),
            "the same event twice is not an echo twice"
        );
        assert!(e.is_empty());
        e.wrote(k.clone(), None);
        assert!(!e.is_echo(&k, None));
    }
}

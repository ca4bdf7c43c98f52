//! What the plan settles against decisions made outside it, once every successor is written:
//! values chosen in a `--resolve` file, and successors that already exist in the target
//! division (a plan run again over its own output). Both read the manifests as written, so they
//! run after the builder and live apart from it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::successors::Builder;
use super::{Problem, manifest_key, set_pointer};

impl Builder<'_> {
    /// A successor that already exists in the target division must be exactly what the plan
    /// writes (a plan run again over its own output), never something else.
    pub(super) fn check_against_current(&mut self, current: &BTreeMap<String, (usize, Value)>) {
        for docs in self.manifests.values() {
            for d in docs {
                let key = manifest_key(d);
                let Some((source, existing)) = current.get(&key) else {
                    continue;
                };
                if *existing != d["spec"] {
                    self.problems.push(Problem {
                        reason: "SuccessorExists",
                        source: Some(*source),
                        en: format!(
                            "{key} already exists in the {}-province division with other values than the plan's successor; merge it into the plan by hand or delete it",
                            self.request.to
                        ),
                        vi: format!(
                            "{key} đã có trong danh mục {} tỉnh với giá trị khác đơn vị kế thừa của kế hoạch; gộp thủ công hoặc xoá nó",
                            self.request.to
                        ),
                    });
                }
            }
        }
    }

    /// Applies `--resolve`: the chosen value goes into the successor's values; the conflicts
    /// at that leaf are settled.
    pub(super) fn apply_resolutions(&mut self) {
        let known: BTreeSet<String> = self
            .manifests
            .values()
            .flatten()
            .filter(|d| d["kind"] != "Namespace")
            .map(manifest_key)
            .collect();
        for (successor, paths) in &self.request.resolutions {
            if !known.contains(successor) {
                self.problems.push(Problem {
                    reason: "UnknownResolution",
                    source: None,
                    en: format!(
                        "the resolve file names {successor}, which is no successor of this plan; successors are namespace/name as in the plan's table"
                    ),
                    vi: format!(
                        "tệp giải quyết nêu {successor}, không phải đơn vị kế thừa nào của kế hoạch; dùng namespace/tên như trong bảng kế hoạch"
                    ),
                });
                continue;
            }
            for docs in self.manifests.values_mut() {
                for d in docs.iter_mut() {
                    let key = manifest_key(d);
                    if key != *successor {
                        continue;
                    }
                    for (path, value) in paths {
                        if !path.is_empty() && !path.starts_with('/') {
                            self.problems.push(Problem {
                                reason: "InvalidResolution",
                                source: None,
                                en: format!("resolution {path:?} for {successor} is not a JSON pointer; write it as in the conflict list, e.g. /contact/hotline"),
                                vi: format!("giải quyết {path:?} cho {successor} không phải JSON pointer; viết như trong danh sách xung đột, ví dụ /contact/hotline"),
                            });
                            continue;
                        }
                        let values = &mut d["spec"]["values"];
                        if values.is_null() {
                            *values = json!({});
                        }
                        set_pointer(values, path, value.clone());
                    }
                }
            }
            for c in self
                .conflicts
                .iter_mut()
                .filter(|c| c.successor == *successor)
            {
                if let Some(v) = paths.get(&c.leaf.path) {
                    c.resolved = Some(v.clone());
                }
            }
        }
    }
}

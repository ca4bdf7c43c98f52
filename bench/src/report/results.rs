//! What the main section is made of: per size, every run of every measurement.

use crate::offline::Offline;
use crate::runs::{KhaibaoRun, Phase};

pub struct SizeResult {
    pub label: String,
    pub tenants: usize,
    pub objects: usize,
    pub concurrency_search: Vec<(usize, f64)>,
    pub baseline_concurrency: usize,
    pub baseline: Vec<Phase>,
    /// The baseline plus each Tenant and one status write, made by the bench (no operator).
    pub floor: Vec<Phase>,
    pub floor_concurrency: usize,
    pub khaibao: Vec<KhaibaoRun>,
    pub helm: Option<(usize, Phase)>,
    /// kro: the phase and kro's peak RSS (MiB), or why it failed.
    pub kro: Option<(Phase, f64)>,
    pub kro_error: Option<String>,
}

impl SizeResult {
    pub fn new(label: &str, tenants: usize, objects: usize) -> Self {
        SizeResult {
            label: label.into(),
            tenants,
            objects,
            concurrency_search: Vec::new(),
            baseline_concurrency: 0,
            baseline: Vec::new(),
            floor: Vec::new(),
            floor_concurrency: 0,
            khaibao: Vec::new(),
            helm: None,
            kro: None,
            kro_error: None,
        }
    }

    /// The run whose cold time is the median.
    pub(super) fn median_khaibao(&self) -> Option<&KhaibaoRun> {
        let mut v: Vec<&KhaibaoRun> = self.khaibao.iter().collect();
        v.sort_by(|a, b| a.cold.seconds.total_cmp(&b.cold.seconds));
        v.get(v.len() / 2).copied()
    }

    pub(super) fn median_baseline(&self) -> Option<&Phase> {
        let mut v: Vec<&Phase> = self.baseline.iter().collect();
        v.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
        v.get(v.len() / 2).copied()
    }
}

pub struct Results {
    pub command: String,
    pub sizes: Vec<SizeResult>,
    pub offline: Option<Offline>,
    pub kro_note: Option<String>,
}

impl Results {
    pub fn new(command: &str) -> Self {
        Results {
            command: command.into(),
            sizes: Vec::new(),
            offline: None,
            kro_note: None,
        }
    }
}

//! What became of a unit and what a unit was made from (the 2025 merge mappings), and the names
//! a code carried across editions. Every index is built once, on first use, and every answer
//! borrows from it: the mapping has 10,565 rows and the reform tooling asks about each unit.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

use crate::api::Level;

use super::{EDITIONS, Edition, edition_units, read_csv};

/// One pair of the official mapping, seen from one side: a successor of an old unit, or a
/// predecessor of a new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitLink {
    pub code: String,
    /// Only part of the old unit went into the new one (as the source marks the pair). For a
    /// split, count the rows: the pair that took "the remaining part" is usually not partial.
    pub partial: bool,
}

/// Both directions of one mapping, keyed by code.
#[derive(Default)]
struct Mapping {
    successors: HashMap<String, Vec<UnitLink>>,
    predecessors: HashMap<String, Vec<UnitLink>>,
}

impl Mapping {
    /// Rows come sorted by old code, so both sides keep code order.
    fn from_pairs(pairs: impl IntoIterator<Item = (String, String, bool)>) -> Self {
        let mut m = Mapping::default();
        for (old, new, partial) in pairs {
            m.predecessors
                .entry(new.clone())
                .or_default()
                .push(UnitLink {
                    code: old.clone(),
                    partial,
                });
            m.successors
                .entry(old)
                .or_default()
                .push(UnitLink { code: new, partial });
        }
        m
    }
}

#[derive(Deserialize)]
struct ProvinceMerge {
    old_province_code: String,
    new_province_code: String,
}

#[derive(Deserialize)]
struct CommuneMerge {
    old_commune_code: String,
    new_commune_code: String,
    partial: bool,
}

static PROVINCE_LINKS: LazyLock<Mapping> = LazyLock::new(|| {
    Mapping::from_pairs(
        read_csv::<ProvinceMerge>(include_str!("../../data/province-merge-2025.csv"))
            .into_iter()
            .map(|m| (m.old_province_code, m.new_province_code, false)),
    )
});

static COMMUNE_LINKS: LazyLock<Mapping> = LazyLock::new(|| {
    Mapping::from_pairs(
        read_csv::<CommuneMerge>(include_str!("../../data/commune-merge-2025.csv"))
            .into_iter()
            .map(|m| (m.old_commune_code, m.new_commune_code, m.partial)),
    )
});

fn mapping(level: Level) -> &'static Mapping {
    match level {
        Level::Province => &PROVINCE_LINKS,
        Level::Commune => &COMMUNE_LINKS,
    }
}

/// What became of a unit of the 63-province division on 1 July 2025: the 34-division unit(s)
/// it went into (several for a split), in code order; empty when the mapping has no row.
pub fn successors_of(level: Level, old_code: &str) -> &'static [UnitLink] {
    mapping(level)
        .successors
        .get(old_code)
        .map_or(&[], Vec::as_slice)
}

/// What a unit of the 34-province division was made from: the 63-division units that went
/// into it, in code order; empty for a unit no old unit maps to (the island đặc khu).
pub fn predecessors_of(level: Level, new_code: &str) -> &'static [UnitLink] {
    mapping(level)
        .predecessors
        .get(new_code)
        .map_or(&[], Vec::as_slice)
}

/// One official name a code carried over consecutive editions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameSpan {
    pub name: String,
    pub division_type: String,
    /// The editions that carried it, in date order (never empty).
    pub editions: Vec<&'static Edition>,
    /// The date of the first later edition without this name for the code (renamed, merged
    /// into another unit, or the code reused by a new unit); `None` while it is current.
    pub until: Option<&'static str>,
}

impl NameSpan {
    /// The date of the first edition with this name.
    pub fn since(&self) -> &'static str {
        self.editions[0].date
    }
}

/// Name spans of every code of every edition, built on first use only: resolving a tenant
/// needs it only when the declared name is not the current one.
static NAME_HISTORY: LazyLock<HashMap<(Level, String), Vec<NameSpan>>> = LazyLock::new(|| {
    let mut history: HashMap<(Level, String), Vec<NameSpan>> = HashMap::new();
    for (index, edition) in EDITIONS.iter().enumerate() {
        let units = edition_units(edition);
        let provinces = units
            .provinces
            .iter()
            .map(|p| (Level::Province, &p.code, &p.name, &p.division_type));
        let communes = units
            .communes
            .iter()
            .map(|c| (Level::Commune, &c.code, &c.name, &c.division_type));
        for (level, code, name, division_type) in provinces.chain(communes) {
            let spans = history.entry((level, code.clone())).or_default();
            match spans.last_mut() {
                // Same name as in the edition just before: the span goes on.
                Some(last)
                    if last.name == *name
                        && last.division_type == *division_type
                        && index > 0
                        && last
                            .editions
                            .last()
                            .is_some_and(|e| *e == &EDITIONS[index - 1]) =>
                {
                    last.editions.push(edition);
                }
                _ => {
                    if let Some(last) = spans.last_mut() {
                        last.until.get_or_insert(edition.date);
                    }
                    spans.push(NameSpan {
                        name: name.clone(),
                        division_type: division_type.clone(),
                        editions: vec![edition],
                        until: None,
                    });
                }
            }
        }
    }
    // A span whose last edition is not the latest one ended when the next edition came.
    let latest = EDITIONS.len() - 1;
    for spans in history.values_mut() {
        for span in spans.iter_mut().filter(|s| s.until.is_none()) {
            let last = span.editions.last().copied();
            if let Some(i) = EDITIONS.iter().position(|e| Some(e) == last)
                && i < latest
            {
                span.until = Some(EDITIONS[i + 1].date);
            }
        }
    }
    history
});

/// Every official name a code carried, oldest first, the current one (if the code still
/// exists) last.
pub fn name_history(level: Level, code: &str) -> &'static [NameSpan] {
    NAME_HISTORY
        .get(&(level, code.to_string()))
        .map_or(&[], Vec::as_slice)
}

/// The earlier official names of a code: every span of its history that has ended.
pub fn former_names(level: Level, code: &str) -> Vec<&'static NameSpan> {
    name_history(level, code)
        .iter()
        .filter(|s| s.until.is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::registry::{Division, units};

    #[test]
    fn every_old_province_went_wholly_into_one_new_one() {
        assert_eq!(PROVINCE_LINKS.successors.len(), 63);
        assert_eq!(PROVINCE_LINKS.predecessors.len(), 34);
        for p in &units(Division::D63).provinces {
            let s = successors_of(Level::Province, &p.code);
            assert_eq!(s.len(), 1, "{}", p.code);
            assert!(!s[0].partial);
            assert!(units(Division::D34).province(&s[0].code).is_some());
        }
        assert_eq!(
            successors_of(Level::Province, "02"),
            [UnitLink {
                code: "08".into(),
                partial: false
            }]
        );
        let made_from: Vec<&str> = predecessors_of(Level::Province, "08")
            .iter()
            .map(|l| l.code.as_str())
            .collect();
        assert_eq!(made_from, ["02", "08"]);
        let hcm: Vec<&str> = predecessors_of(Level::Province, "79")
            .iter()
            .map(|l| l.code.as_str())
            .collect();
        assert_eq!(hcm, ["74", "77", "79"]);
        assert!(successors_of(Level::Province, "99").is_empty());
    }

    #[test]
    fn the_commune_mapping_has_the_documented_shape() {
        let m = &*COMMUNE_LINKS;
        assert_eq!(m.successors.values().map(Vec::len).sum::<usize>(), 10_565);
        assert_eq!(m.successors.len(), 10_033);
        assert_eq!(m.predecessors.len(), 3_316);
        let mut by_rows: BTreeMap<usize, usize> = BTreeMap::new();
        for links in m.successors.values() {
            *by_rows.entry(links.len()).or_default() += 1;
        }
        assert_eq!(
            by_rows.into_iter().collect::<Vec<_>>(),
            [(1, 9_592), (2, 369), (3, 54), (4, 17), (5, 1)]
        );
        let partial = m
            .successors
            .values()
            .flatten()
            .filter(|l| l.partial)
            .count();
        assert_eq!(partial, 1_042);
        // Every successor is a unit of the 34-province division.
        let d34 = units(Division::D34);
        assert!(m.predecessors.keys().all(|c| d34.commune(c).is_some()));
    }

    #[test]
    fn the_28_unmapped_old_communes_have_no_successor() {
        let d63 = units(Division::D63);
        let unmapped: Vec<&str> = d63
            .communes
            .iter()
            .filter(|c| successors_of(Level::Commune, &c.code).is_empty())
            .map(|c| c.code.as_str())
            .collect();
        assert_eq!(unmapped.len(), 28);
        for code in ["01651", "02482", "16387", "03751", "27379"] {
            assert!(unmapped.contains(&code), "{code}");
        }
        // The 10 mapped codes missing from the January list still have their successors.
        assert!(d63.commune("03980").is_none());
        assert!(!successors_of(Level::Commune, "03980").is_empty());
    }

    #[test]
    fn splits_and_merges_of_communes() {
        // 00001 Phường Phúc Xá went into 00097 (with others).
        assert_eq!(successors_of(Level::Commune, "00001")[0].code, "00097");
        let made_from = predecessors_of(Level::Commune, "00097");
        assert!(made_from.iter().any(|l| l.code == "00001"), "{made_from:?}");
        // The island đặc khu were made from no commune.
        assert!(predecessors_of(Level::Commune, "26732").is_empty());
        let split = COMMUNE_LINKS
            .successors
            .iter()
            .find(|(_, l)| l.len() == 5)
            .map(|(c, _)| c.as_str())
            .unwrap();
        assert_eq!(successors_of(Level::Commune, split).len(), 5);
        for l in successors_of(Level::Commune, split) {
            assert!(
                predecessors_of(Level::Commune, &l.code)
                    .iter()
                    .any(|p| p.code == split)
            );
        }
    }

    #[test]
    fn a_renamed_province_keeps_its_former_name() {
        let history = name_history(Level::Province, "22");
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].name, "Tỉnh Quảng Ninh");
        assert_eq!(history[0].since(), "2025-01-04");
        assert_eq!(history[0].editions.len(), 2, "both divisions carried it");
        assert_eq!(history[0].until, Some("2026-09-20"));
        assert_eq!(history[1].name, "Thành phố Quảng Ninh");
        assert_eq!(history[1].until, None);
        let former: Vec<&str> = former_names(Level::Province, "22")
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(former, ["Tỉnh Quảng Ninh"]);
        // Hà Nội never changed; 02 Hà Giang ended with its division; 52 was reused by Gia Lai.
        assert!(former_names(Level::Province, "01").is_empty());
        assert_eq!(name_history(Level::Province, "01")[0].editions.len(), 3);
        let hg = former_names(Level::Province, "02");
        assert_eq!((hg.len(), hg[0].until), (1, Some("2025-07-01")));
        let gl: Vec<(&str, Option<&str>)> = name_history(Level::Province, "52")
            .iter()
            .map(|s| (s.name.as_str(), s.until))
            .collect();
        assert_eq!(
            gl,
            [
                ("Tỉnh Bình Định", Some("2025-07-01")),
                ("Tỉnh Gia Lai", None)
            ]
        );
        assert!(name_history(Level::Commune, "99999").is_empty());
    }
}

//! The official administrative-unit registry (GSO codes), embedded from `operator/data/`: dated
//! editions of the 63-province division (before 1 July 2025) and the 34-province division
//! (after, with the later renames), and the 2025 merge mappings between them. Loaded once, on
//! first use; read-only afterwards. It never reads a file or the clock: "current" means the
//! latest embedded edition, so a build knows exactly the history it was made with.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde::Deserialize;

use crate::api::Level;

mod history;
mod unit_check;

pub use history::{NameSpan, UnitLink, former_names, name_history, predecessors_of, successors_of};
pub use unit_check::{ResolvedUnit, UnitError, resolve_unit, same_name};

/// One of the two official divisions of the country.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Division {
    /// 63 provinces, 10,051 communes (the GSO list of 2025-01-04).
    D63,
    /// 34 provinces, 3,321 communes (from 1 July 2025). The default.
    #[default]
    D34,
}

impl Division {
    pub fn as_str(self) -> &'static str {
        match self {
            Division::D63 => "63",
            Division::D34 => "34",
        }
    }

    /// The day this division stopped being the official one (`None` while it still is).
    pub fn ended(self) -> Option<&'static str> {
        match self {
            Division::D63 => Some(REFORM_DATE),
            Division::D34 => None,
        }
    }
}

impl fmt::Display for Division {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Division {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "63" => Ok(Division::D63),
            "34" => Ok(Division::D34),
            other => Err(format!("unknown division {other:?}: use 63 or 34")),
        }
    }
}

/// The day of the 2025 reform (Resolution 202/2025/QH15): the 63-province division ended and
/// the 34-province division began; the merge mappings take effect on it.
pub const REFORM_DATE: &str = "2025-07-01";

/// One dated edition of the official list of a division.
/// Only this crate makes editions (the entries of [`EDITIONS`]): what [`edition_units`]
/// relies on.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Edition {
    /// The date the edition took effect (`YYYY-MM-DD`); it also names the edition.
    pub date: &'static str,
    pub division: Division,
    /// What changed, in English.
    pub summary: &'static str,
}

/// Every edition, in date order. The last edition of a division is its current one.
pub static EDITIONS: [Edition; 3] = [
    Edition {
        date: "2025-01-04",
        division: Division::D63,
        summary: "the GSO list before the reform: 63 provinces, 10,051 communes",
    },
    Edition {
        date: REFORM_DATE,
        division: Division::D34,
        summary: "the reform (Resolution 202/2025/QH15): 34 provinces, 3,321 communes",
    },
    Edition {
        date: "2026-09-20",
        division: Division::D34,
        summary: "22 Quảng Ninh, 24 Bắc Ninh, 75 Đồng Nai become centrally-run cities (same codes)",
    },
];

/// The edition with this date (`2025-07-01`).
pub fn edition(date: &str) -> Option<&'static Edition> {
    EDITIONS.iter().find(|e| e.date == date)
}

/// The latest edition of a division: the one `units(division)` holds.
pub fn current_edition(division: Division) -> &'static Edition {
    // EDITIONS (a static above) holds at least one edition of each Division variant.
    EDITIONS
        .iter()
        .rev()
        .find(|e| e.division == division)
        .expect("registry: every division has an edition")
}

/// A province-level unit.
#[derive(Clone, Debug, Deserialize)]
pub struct Province {
    pub code: String,
    pub name: String,
    pub short_name: String,
    pub slug: String,
    pub division_type: String,
    pub region: String,
}

/// A commune-level unit (xã, phường, thị trấn, đặc khu).
#[derive(Clone, Debug, Deserialize)]
pub struct Commune {
    pub code: String,
    pub name: String,
    pub slug: String,
    pub division_type: String,
    #[serde(default)]
    pub district_code: Option<String>,
    #[serde(default)]
    pub district_name: Option<String>,
    pub province_code: String,
}

/// All units of one edition of a division, indexed by code.
pub struct DivisionUnits {
    pub division: Division,
    pub edition: &'static Edition,
    pub provinces: Vec<Province>,
    pub communes: Vec<Commune>,
    province_index: HashMap<String, usize>,
    commune_index: HashMap<String, usize>,
}

impl DivisionUnits {
    fn load(edition: &'static Edition, provinces_csv: &str, communes_csv: &str) -> Self {
        let provinces: Vec<Province> = read_csv(provinces_csv);
        let communes: Vec<Commune> = read_csv(communes_csv);
        let province_index = provinces
            .iter()
            .enumerate()
            .map(|(i, p)| (p.code.clone(), i))
            .collect();
        let commune_index = communes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.code.clone(), i))
            .collect();
        DivisionUnits {
            division: edition.division,
            edition,
            provinces,
            communes,
            province_index,
            commune_index,
        }
    }

    pub fn province(&self, code: &str) -> Option<&Province> {
        self.province_index.get(code).map(|&i| &self.provinces[i])
    }

    pub fn commune(&self, code: &str) -> Option<&Commune> {
        self.commune_index.get(code).map(|&i| &self.communes[i])
    }

    /// The official name and type of a unit of this edition.
    pub fn name_of(&self, level: Level, code: &str) -> Option<(&str, &str)> {
        match level {
            Level::Province => self
                .province(code)
                .map(|p| (p.name.as_str(), p.division_type.as_str())),
            Level::Commune => self
                .commune(code)
                .map(|c| (c.name.as_str(), c.division_type.as_str())),
        }
    }

    /// Communes of one province, in code order.
    pub fn communes_of<'a>(&'a self, province_code: &'a str) -> impl Iterator<Item = &'a Commune> {
        self.communes
            .iter()
            .filter(move |c| c.province_code == province_code)
    }

    /// Applies one official rename. The code, short name and slug stay: a rename changes what a
    /// unit is called, not which unit it is (tenants, namespaces and host names keep working).
    fn rename(&mut self, r: &Rename) {
        let (name, division_type) = match r.level {
            Level::Province => self
                .province_index
                .get(&r.code)
                .map(|&i| &mut self.provinces[i])
                .map(|p| (&mut p.name, &mut p.division_type)),
            Level::Commune => self
                .commune_index
                .get(&r.code)
                .map(|&i| &mut self.communes[i])
                .map(|c| (&mut c.name, &mut c.division_type)),
        }
        .unwrap_or_else(|| panic!("embedded rename of unknown {:?} {}", r.level, r.code));
        assert_eq!(
            *name, r.old_name,
            "embedded rename of {} does not start from its name",
            r.code
        );
        *name = r.new_name.clone();
        *division_type = r.new_division_type.clone();
    }
}

/// The embedded data is part of the binary and checked by tests, so a parse failure is a build
/// defect, not user input: it is reported loudly instead of being hidden.
fn read_csv<T: for<'de> Deserialize<'de>>(text: &str) -> Vec<T> {
    csv::Reader::from_reader(text.as_bytes())
        .deserialize()
        .collect::<Result<Vec<T>, _>>()
        .unwrap_or_else(|e| panic!("embedded unit registry is corrupt: {e}"))
}

/// An official rename within the 34-province division (`renames-2026.csv`).
#[derive(Debug, Deserialize)]
struct Rename {
    level: Level,
    code: String,
    old_name: String,
    new_name: String,
    new_division_type: String,
    date: String,
}

static RENAMES: LazyLock<Vec<Rename>> =
    LazyLock::new(|| read_csv(include_str!("../../data/renames-2026.csv")));

/// Builds an edition: the division's CSV files (which hold its first edition, as the sources
/// published them) with every rename up to the edition's date applied.
fn load_edition(index: usize) -> DivisionUnits {
    let edition = &EDITIONS[index];
    let mut units = match edition.division {
        Division::D63 => DivisionUnits::load(
            edition,
            include_str!("../../data/provinces-63.csv"),
            include_str!("../../data/communes-63.csv"),
        ),
        Division::D34 => DivisionUnits::load(
            edition,
            include_str!("../../data/provinces-34.csv"),
            include_str!("../../data/communes-34.csv"),
        ),
    };
    if edition.division == Division::D34 {
        for r in RENAMES.iter().filter(|r| r.date.as_str() <= edition.date) {
            units.rename(r);
        }
    }
    units
}

/// One slot per entry of `EDITIONS`; an edition is built the first time it is asked for (most
/// runs only ever need the current 34-province one).
static EDITION_UNITS: [LazyLock<DivisionUnits>; 3] = [
    LazyLock::new(|| load_edition(0)),
    LazyLock::new(|| load_edition(1)),
    LazyLock::new(|| load_edition(2)),
];

/// The units of one edition.
pub fn edition_units(edition: &Edition) -> &'static DivisionUnits {
    let index = EDITIONS
        .iter()
        .position(|e| e == edition)
        // Editions cannot be made outside this crate (`#[non_exhaustive]`) and this crate
        // makes them only in EDITIONS.
        .expect("registry: editions come from EDITIONS");
    &EDITION_UNITS[index]
}

/// The units of a division, in its current (latest) edition.
pub fn units(division: Division) -> &'static DivisionUnits {
    edition_units(current_edition(division))
}

/// The 34-division province an old (63-division) province became part of.
pub fn merged_into(old_province_code: &str) -> Option<&'static Province> {
    let link = successors_of(Level::Province, old_province_code).first()?;
    units(Division::D34).province(&link.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_has_the_official_counts() {
        assert_eq!(units(Division::D63).provinces.len(), 63);
        assert_eq!(units(Division::D63).communes.len(), 10_051);
        assert_eq!(units(Division::D34).provinces.len(), 34);
        assert_eq!(units(Division::D34).communes.len(), 3_321);
        for e in &EDITIONS {
            let (p, c) = match e.division {
                Division::D63 => (63, 10_051),
                Division::D34 => (34, 3_321),
            };
            assert_eq!(edition_units(e).provinces.len(), p, "{}", e.date);
            assert_eq!(edition_units(e).communes.len(), c, "{}", e.date);
        }
    }

    #[test]
    fn editions_are_dated_in_order_and_the_latest_is_current() {
        let dates: Vec<&str> = EDITIONS.iter().map(|e| e.date).collect();
        assert_eq!(dates, ["2025-01-04", "2025-07-01", "2026-09-20"]);
        assert_eq!(current_edition(Division::D63).date, "2025-01-04");
        assert_eq!(current_edition(Division::D34).date, "2026-09-20");
        assert_eq!(units(Division::D34).edition.date, "2026-09-20");
        assert_eq!(
            edition("2025-07-01").map(|e| e.division),
            Some(Division::D34)
        );
        assert_eq!(Division::D63.ended(), Some("2025-07-01"));
        assert_eq!(Division::D34.ended(), None);
        // Every rename belongs to an edition of the 34-province division.
        for r in RENAMES.iter() {
            assert_eq!(
                edition(&r.date).map(|e| e.division),
                Some(Division::D34),
                "{}",
                r.code
            );
        }
    }

    #[test]
    fn the_2026_renames_apply_to_the_latest_edition_only() {
        let before = edition_units(&EDITIONS[1]);
        let now = units(Division::D34);
        for (code, name, short, slug) in [
            ("22", "Thành phố Quảng Ninh", "Quảng Ninh", "quang-ninh"),
            ("24", "Thành phố Bắc Ninh", "Bắc Ninh", "bac-ninh"),
            ("75", "Thành phố Đồng Nai", "Đồng Nai", "dong-nai"),
        ] {
            let p = now.province(code).unwrap();
            assert_eq!(p.name, name);
            assert_eq!(p.division_type, "thành phố trung ương");
            assert_eq!((p.short_name.as_str(), p.slug.as_str()), (short, slug));
            let old = before.province(code).unwrap();
            assert_eq!(old.division_type, "tỉnh");
            assert_eq!(old.name, format!("Tỉnh {short}"));
        }
        let cities = |u: &DivisionUnits| {
            u.provinces
                .iter()
                .filter(|p| p.division_type == "thành phố trung ương")
                .count()
        };
        assert_eq!((cities(before), cities(now)), (6, 9));
        // Nothing else differs between the two editions.
        let changed = now
            .provinces
            .iter()
            .zip(&before.provinces)
            .filter(|(a, b)| a.name != b.name)
            .count();
        assert_eq!(changed, 3);
    }

    #[test]
    fn embedded_names_are_nfc() {
        use unicode_normalization::is_nfc;
        for e in &EDITIONS {
            let u = edition_units(e);
            assert!(
                u.provinces
                    .iter()
                    .all(|p| is_nfc(&p.name) && is_nfc(&p.short_name))
            );
            assert!(u.communes.iter().all(|c| is_nfc(&c.name)));
        }
    }

    #[test]
    fn lookups_by_code() {
        let hn = units(Division::D34).province("01").unwrap();
        assert_eq!(hn.name, "Thành phố Hà Nội");
        assert_eq!(hn.slug, "ha-noi");
        let c = units(Division::D63).commune("00001").unwrap();
        assert_eq!(c.name, "Phường Phúc Xá");
        assert_eq!(c.district_name.as_deref(), Some("Quận Ba Đình"));
        assert_eq!(merged_into("02").unwrap().code, "08");
        assert_eq!(merged_into("22").unwrap().name, "Thành phố Quảng Ninh");
        assert_eq!(units(Division::D34).communes_of("01").count(), 126);
        assert_eq!(
            units(Division::D34).name_of(Level::Province, "75"),
            Some(("Thành phố Đồng Nai", "thành phố trung ương"))
        );
    }

    #[test]
    fn slugs_are_dns_labels_and_unique_per_province() {
        for d in [Division::D63, Division::D34] {
            let u = units(d);
            let mut seen = std::collections::HashSet::new();
            for c in &u.communes {
                assert!(c.slug.len() <= 63 && !c.slug.is_empty());
                assert!(
                    c.slug
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                );
                assert!(
                    seen.insert((c.province_code.clone(), c.slug.clone())),
                    "{}",
                    c.slug
                );
                assert!(u.province(&c.province_code).is_some());
            }
        }
    }
}

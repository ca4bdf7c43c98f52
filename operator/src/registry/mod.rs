//! The official administrative-unit registry (GSO codes), embedded from `operator/data/`:
//! the 63-province division (before 1 July 2025) and the 34-province division (after), with the
//! province merge mapping. Loaded once, on first use; read-only afterwards.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde::Deserialize;

mod unit_check;

pub use unit_check::{ResolvedUnit, UnitError, resolve_unit};

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

/// All units of one division, indexed by code.
pub struct DivisionUnits {
    pub division: Division,
    pub provinces: Vec<Province>,
    pub communes: Vec<Commune>,
    province_index: HashMap<String, usize>,
    commune_index: HashMap<String, usize>,
}

impl DivisionUnits {
    fn load(division: Division, provinces_csv: &str, communes_csv: &str) -> Self {
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
            division,
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

    /// Communes of one province, in code order.
    pub fn communes_of<'a>(&'a self, province_code: &'a str) -> impl Iterator<Item = &'a Commune> {
        self.communes
            .iter()
            .filter(move |c| c.province_code == province_code)
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

static D63: LazyLock<DivisionUnits> = LazyLock::new(|| {
    DivisionUnits::load(
        Division::D63,
        include_str!("../../data/provinces-63.csv"),
        include_str!("../../data/communes-63.csv"),
    )
});

static D34: LazyLock<DivisionUnits> = LazyLock::new(|| {
    DivisionUnits::load(
        Division::D34,
        include_str!("../../data/provinces-34.csv"),
        include_str!("../../data/communes-34.csv"),
    )
});

#[derive(Deserialize)]
struct ProvinceMerge {
    old_province_code: String,
    new_province_code: String,
}

static PROVINCE_MERGE: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    read_csv::<ProvinceMerge>(include_str!("../../data/province-merge-2025.csv"))
        .into_iter()
        .map(|m| (m.old_province_code, m.new_province_code))
        .collect()
});

/// The units of a division.
pub fn units(division: Division) -> &'static DivisionUnits {
    match division {
        Division::D63 => &D63,
        Division::D34 => &D34,
    }
}

/// The 34-division province an old (63-division) province became part of.
pub fn merged_into(old_province_code: &str) -> Option<&'static Province> {
    let new_code = PROVINCE_MERGE.get(old_province_code)?;
    units(Division::D34).province(new_code)
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
        assert_eq!(PROVINCE_MERGE.len(), 63);
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
        assert_eq!(units(Division::D34).communes_of("01").count(), 126);
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

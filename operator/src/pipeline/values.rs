//! Merging a tenant's values from its layers (schema defaults ← national defaults ← parent ←
//! tenant), remembering for every leaf which layer set it and what it overrode. `khaibao explain`
//! prints this; validation uses it to point an error at the file that set the bad value.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layer {
    /// A `default` in the platform's tenant schema.
    SchemaDefault,
    /// The platform's national `defaults`.
    National,
    /// The parent (province) tenant, by name.
    Parent(String),
    /// The tenant itself.
    Tenant,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::SchemaDefault => f.write_str("schema default"),
            Layer::National => f.write_str("national defaults"),
            Layer::Parent(name) => write!(f, "parent {name}"),
            Layer::Tenant => f.write_str("tenant"),
        }
    }
}

impl Layer {
    /// The label in Vietnamese, for `--lang vi`.
    pub fn vi(&self) -> String {
        match self {
            Layer::SchemaDefault => "mặc định của lược đồ".into(),
            Layer::National => "mặc định quốc gia".into(),
            Layer::Parent(name) => format!("đơn vị cha {name}"),
            Layer::Tenant => "đơn vị".into(),
        }
    }
}

/// The layer that set one leaf, and the values it replaced (lowest layer first).
#[derive(Clone, Debug, PartialEq)]
pub struct Provenance {
    pub layer: Layer,
    pub overrode: Vec<(Layer, Value)>,
}

/// Effective values and the provenance of each leaf, keyed by JSON pointer under `values`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MergedValues {
    pub value: Value,
    pub provenance: BTreeMap<String, Provenance>,
}

impl MergedValues {
    /// The provenance of the value at `pointer`, or of the closest ancestor leaf.
    pub fn layer_of(&self, pointer: &str) -> Option<&Layer> {
        let mut p = pointer;
        loop {
            if let Some(prov) = self.provenance.get(p) {
                return Some(&prov.layer);
            }
            // A pointer to an object: any leaf below tells the layer if all agree; take the first.
            if let Some((_, prov)) = self
                .provenance
                .range(format!("{p}/")..)
                .next()
                .filter(|(k, _)| k.starts_with(&format!("{p}/")))
            {
                return Some(&prov.layer);
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }
}

/// Merges layers from lowest to highest precedence. Objects merge key by key; anything else
/// (scalars, lists) from a higher layer replaces the lower value whole, as Helm and Kustomize do.
pub fn merge_layers<'a>(layers: impl IntoIterator<Item = (Layer, &'a Value)>) -> MergedValues {
    let mut merged = MergedValues {
        value: Value::Object(Map::new()),
        provenance: BTreeMap::new(),
    };
    for (layer, value) in layers {
        if value.is_null() {
            continue;
        }
        overlay(&mut merged.value, value, "", &layer, &mut merged.provenance);
    }
    merged
}

fn overlay(
    base: &mut Value,
    top: &Value,
    pointer: &str,
    layer: &Layer,
    prov: &mut BTreeMap<String, Provenance>,
) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) if !t.is_empty() || pointer.is_empty() => {
            for (k, tv) in t {
                let child = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                match b.get_mut(k) {
                    Some(bv) => overlay(bv, tv, &child, layer, prov),
                    None => {
                        b.insert(k.clone(), tv.clone());
                        record_new(tv, &child, layer, prov);
                    }
                }
            }
        }
        (base, top) => {
            // Replace: the leaves below `pointer` now all come from `layer`.
            let replaced: Vec<(Layer, Value)> = take_leaves(prov, pointer)
                .into_iter()
                .flat_map(|p| {
                    let mut chain = p.overrode;
                    chain.push((p.layer, Value::Null));
                    chain
                })
                .collect();
            let mut overrode: Vec<(Layer, Value)> = Vec::new();
            for (l, _) in replaced {
                if !overrode.iter().any(|(x, _)| *x == l) {
                    overrode.push((l, Value::Null));
                }
            }
            // Keep the exact previous value for the layer directly overridden.
            if let Some(last) = overrode.last_mut() {
                last.1 = base.clone();
            }
            *base = top.clone();
            if top.is_object() && !top.as_object().is_some_and(Map::is_empty) {
                record_new(top, pointer, layer, prov);
                if let Some(first) = prov.get_mut(&first_leaf(pointer, prov)) {
                    first.overrode = overrode;
                }
            } else {
                prov.insert(
                    pointer.to_string(),
                    Provenance {
                        layer: layer.clone(),
                        overrode,
                    },
                );
            }
        }
    }
}

fn first_leaf(pointer: &str, prov: &BTreeMap<String, Provenance>) -> String {
    prov.range(format!("{pointer}/")..)
        .next()
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| pointer.to_string())
}

/// Removes and returns the provenance of `pointer` and every leaf below it.
fn take_leaves(prov: &mut BTreeMap<String, Provenance>, pointer: &str) -> Vec<Provenance> {
    let prefix = format!("{pointer}/");
    let keys: Vec<String> = prov
        .range(pointer.to_string()..)
        .take_while(|(k, _)| k.as_str() == pointer || k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    keys.into_iter().filter_map(|k| prov.remove(&k)).collect()
}

fn record_new(v: &Value, pointer: &str, layer: &Layer, prov: &mut BTreeMap<String, Provenance>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, cv) in m {
                let child = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                record_new(cv, &child, layer, prov);
            }
        }
        _ => {
            prov.insert(
                pointer.to_string(),
                Provenance {
                    layer: layer.clone(),
                    overrode: Vec::new(),
                },
            );
        }
    }
}

/// Fills properties the layers left unset with the `default`s of the platform's schema, recording
/// them as `Layer::SchemaDefault`. Objects whose properties have defaults are created as needed.
pub fn apply_schema_defaults(schema: &Value, merged: &mut MergedValues) {
    fill_defaults(schema, &mut merged.value, "", &mut merged.provenance, 0);
}

fn fill_defaults(
    schema: &Value,
    value: &mut Value,
    pointer: &str,
    prov: &mut BTreeMap<String, Provenance>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    let (Some(props), Value::Object(obj)) =
        (schema.get("properties").and_then(Value::as_object), value)
    else {
        return;
    };
    for (k, sub) in props {
        let child = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
        if !obj.contains_key(k) {
            if let Some(d) = sub.get("default") {
                obj.insert(k.clone(), d.clone());
                record_new(d, &child, &Layer::SchemaDefault, prov);
            } else if has_nested_defaults(sub, 0) {
                obj.insert(k.clone(), Value::Object(Map::new()));
            } else {
                continue;
            }
        }
        if let Some(v) = obj.get_mut(k) {
            fill_defaults(sub, v, &child, prov, depth + 1);
        }
    }
}

fn has_nested_defaults(schema: &Value, depth: usize) -> bool {
    depth < 64
        && schema
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| {
                p.values()
                    .any(|s| s.get("default").is_some() || has_nested_defaults(s, depth + 1))
            })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn layers_merge_and_remember_who_set_what() {
        let national =
            json!({"theme": {"color": "#c00", "logo": "quoc-huy.svg"}, "hours": "7:30-17:00"});
        let parent = json!({"theme": {"color": "#036"}, "contact": {"phone": "024"}});
        let tenant = json!({"contact": {"phone": "0243"}});
        let m = merge_layers([
            (Layer::National, &national),
            (Layer::Parent("ha-noi".into()), &parent),
            (Layer::Tenant, &tenant),
        ]);
        assert_eq!(
            m.value,
            json!({"theme": {"color": "#036", "logo": "quoc-huy.svg"}, "hours": "7:30-17:00", "contact": {"phone": "0243"}})
        );
        let color = &m.provenance["/theme/color"];
        assert_eq!(color.layer, Layer::Parent("ha-noi".into()));
        assert_eq!(color.overrode, vec![(Layer::National, json!("#c00"))]);
        let phone = &m.provenance["/contact/phone"];
        assert_eq!(phone.layer, Layer::Tenant);
        assert_eq!(
            phone.overrode,
            vec![(Layer::Parent("ha-noi".into()), json!("024"))]
        );
        assert_eq!(m.provenance["/hours"].layer, Layer::National);
        assert_eq!(m.layer_of("/theme"), Some(&Layer::Parent("ha-noi".into())));
    }

    #[test]
    fn lists_and_scalars_replace_whole() {
        let a = json!({"services": ["a", "b"], "x": {"y": 1}});
        let b = json!({"services": ["c"], "x": 5});
        let m = merge_layers([(Layer::National, &a), (Layer::Tenant, &b)]);
        assert_eq!(m.value, json!({"services": ["c"], "x": 5}));
        assert_eq!(m.provenance["/x"].layer, Layer::Tenant);
        assert!(!m.provenance.contains_key("/x/y"));
        assert_eq!(m.provenance["/x"].overrode[0].0, Layer::National);
    }

    #[test]
    fn schema_defaults_fill_only_what_is_unset() {
        let schema = json!({"type": "object", "properties": {
            "replicas": {"type": "integer", "default": 2},
            "theme": {"type": "object", "properties": {"color": {"type": "string", "default": "#c00"}}},
            "name": {"type": "string", "default": "x"}
        }});
        let tenant = json!({"name": "mine"});
        let mut m = merge_layers([(Layer::Tenant, &tenant)]);
        apply_schema_defaults(&schema, &mut m);
        assert_eq!(
            m.value,
            json!({"replicas": 2, "theme": {"color": "#c00"}, "name": "mine"})
        );
        assert_eq!(m.provenance["/theme/color"].layer, Layer::SchemaDefault);
        assert_eq!(m.provenance["/name"].layer, Layer::Tenant);
    }
}

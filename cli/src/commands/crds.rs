use khaibao::yaml::to_yaml_stream;

/// Prints every CRD as one YAML stream (the same text as `charts/khaibao/crds/`).
pub fn run() -> u8 {
    print!("{}", crds_yaml());
    0
}

pub fn crds_yaml() -> String {
    let values: Vec<serde_json::Value> = khaibao::api::crds()
        .iter()
        .map(|c| serde_json::to_value(c).unwrap_or_default())
        .collect();
    to_yaml_stream(&values)
}

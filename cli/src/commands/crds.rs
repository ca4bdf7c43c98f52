/// Prints every CRD as one YAML stream (the same text as `charts/khaibao/crds/`).
pub fn run() -> u8 {
    print!("{}", khaibao::api::crds_yaml());
    0
}

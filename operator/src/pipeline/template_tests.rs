use super::*;
use serde_json::json;

fn compile(tpl: &str) -> Result<CompiledTemplates, Vec<Diagnostic>> {
    CompiledTemplates::compile(
        &[],
        &[NamedTemplate {
            name: "t.yaml.hbs".into(),
            template: tpl.into(),
        }],
    )
}

fn ctx() -> Value {
    json!({"tenant": {"stem": "ha-noi-01"}, "platform": {"name": "p"},
           "values": {"a": "x: y\n---", "n": 3, "b": true, "list": ["a", "b"], "empty": ""}})
}

#[test]
fn values_are_quoted_and_helpers_typed() {
    let t = compile(
        "name: {{name \"cfg\"}}\nv: {{values.a}}\nn: {{num values.n}}\nb: {{bool values.b}}\nl: {{json values.list}}\nc: {{concat \"https://\" tenant.stem \".gov.vn\"}}\nd: {{default values.empty \"fb\"}}\n{{#if values.missing}}x: 1{{/if}}\n",
    )
    .unwrap();
    let out = t
        .render("tenant/t.yaml.hbs", &Context::from(ctx()))
        .unwrap();
    assert_eq!(
        out,
        "name: \"ha-noi-01-cfg\"\nv: \"x: y\\n---\"\nn: 3\nb: true\nl: [\"a\", \"b\"]\nc: \"https://ha-noi-01.gov.vn\"\nd: \"fb\"\n\n"
    );
}

#[test]
fn a_scalar_block_is_one_quoted_string() {
    let t = compile(
        "l: {{#scalar trim=\",\"}}{{#each values.list}}{{this}}.{{../values.a}},{{/each}}{{/scalar}}\ne: {{#scalar}}{{/scalar}}\n",
    )
    .unwrap();
    let out = t
        .render("tenant/t.yaml.hbs", &Context::from(ctx()))
        .unwrap();
    assert_eq!(out, "l: \"a.x: y\\n---,b.x: y\\n---\"\ne: \"\"\n");
}

#[test]
fn a_missing_value_is_an_error_naming_it() {
    let t = compile("a: {{values.nope}}\n").unwrap();
    let e = t
        .render("tenant/t.yaml.hbs", &Context::from(ctx()))
        .unwrap_err();
    assert!(e.message.en.contains("values.nope"), "{}", e.message.en);
    assert_eq!(
        e.origin,
        Origin::Template {
            name: "tenant/t.yaml.hbs".into(),
            line: Some(1)
        }
    );
}

#[test]
fn unquoted_forms_and_bad_syntax_are_refused() {
    assert_eq!(
        compile("a: {{{values.a}}}\n").err().unwrap()[0].reason,
        "UnquotedOutput"
    );
    assert_eq!(
        compile("a: {{& values.a}}\n").err().unwrap()[0].reason,
        "UnquotedOutput"
    );
    assert_eq!(
        compile("a: {{#if x}}\n").err().unwrap()[0].reason,
        "TemplateError"
    );
    let e = compile("a: {{num values.a}}\n")
        .unwrap()
        .render("tenant/t.yaml.hbs", &Context::from(ctx()))
        .unwrap_err();
    assert!(e.message.en.contains("num expects a number"));
}

#[test]
fn values_in_keys_are_found() {
    assert_eq!(
        values_in_keys(
            "k",
            "data:\n  {{values.k}}: x\n  ok: {{values.v}}\n  \"a:b\": 1\n"
        )
        .len(),
        1
    );
    assert!(values_in_keys("k", "url: {{concat \"a:\" b}}\n{{#if x}}\n").is_empty());
}

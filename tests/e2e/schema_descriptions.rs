//! The schema explains itself: every type, field, argument, enum value and input field a client
//! can introspect has a description, in the product's own words. GraphiQL shows nothing else.

use serde_json::Value;

/// Everything a description is owed to, with descriptions, as GraphiQL asks for it.
const INTROSPECTION: &str = r#"{ __schema { types {
    kind name description
    fields(includeDeprecated: true) { name description args { name description } }
    inputFields { name description }
    enumValues(includeDeprecated: true) { name description }
} } }"#;

/// Types of GraphQL itself, described by the specification rather than by us.
const BUILT_IN: &[&str] = &["Boolean", "String", "Int", "Float", "ID"];

/// What is wrong with `description`, if anything: missing, blank, or speaking of a document
/// the user does not have.
fn fault(description: &Value) -> Option<&'static str> {
    let Some(text) = description.as_str() else {
        return Some("no description");
    };
    if text.trim().is_empty() {
        return Some("a blank description");
    }
    let mentions_spec = text
        .split(|c: char| !c.is_alphanumeric())
        .any(|word| word.eq_ignore_ascii_case("spec"));
    mentions_spec.then_some("a description that speaks of \"the spec\"")
}

fn items(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn name(value: &Value) -> &str {
    value["name"].as_str().unwrap_or("?")
}

/// Every undescribed (or badly described) element of the introspected schema, by its path.
fn faults(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |path: String, description: &Value| {
        if let Some(fault) = fault(description) {
            out.push(format!("{path}: {fault}"));
        }
    };
    for ty in items(&schema["__schema"]["types"]) {
        let ty_name = name(ty);
        if ty_name.starts_with("__") || BUILT_IN.contains(&ty_name) {
            continue;
        }
        check(
            format!("{} {ty_name}", ty["kind"].as_str().unwrap_or("?")),
            &ty["description"],
        );
        for field in items(&ty["fields"]) {
            let field_name = name(field);
            check(format!("{ty_name}.{field_name}"), &field["description"]);
            for arg in items(&field["args"]) {
                check(
                    format!("{ty_name}.{field_name}({})", name(arg)),
                    &arg["description"],
                );
            }
        }
        for input in items(&ty["inputFields"]) {
            check(format!("{ty_name}.{}", name(input)), &input["description"]);
        }
        for value in items(&ty["enumValues"]) {
            check(format!("{ty_name}.{}", name(value)), &value["description"]);
        }
    }
    out
}

#[tokio::test]
async fn every_schema_element_when_introspected_then_has_a_description_in_our_words() {
    let schema = api::schema::builder().finish();
    let response = schema.execute(INTROSPECTION).await;
    assert!(
        response.errors.is_empty(),
        "introspection failed: {:?}",
        response.errors
    );
    let introspected = response.data.into_json().expect("introspection as JSON");
    assert!(
        items(&introspected["__schema"]["types"]).len() > 50,
        "introspection saw too few types: {introspected}"
    );
    let faults = faults(&introspected);
    assert!(
        faults.is_empty(),
        "{} schema elements are not described as they should be:\n{}",
        faults.len(),
        faults.join("\n")
    );
}

#[test]
fn a_description_speaking_of_the_spec_when_checked_then_is_a_fault() {
    assert!(fault(&Value::Null).is_some());
    assert!(fault(&Value::from("  ")).is_some());
    assert!(fault(&Value::from("Execution statistics (the spec's metrics).")).is_some());
    assert!(fault(&Value::from("A specific step, as specified.")).is_none());
}

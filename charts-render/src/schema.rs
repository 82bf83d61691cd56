//! `values.schema.json` checked as Helm 3.17 checks it: each enabled chart's schema
//! against its coalesced values (a subchart against its own section), with
//! gojsonschema's wording of each error (`field: description`), the chart's name
//! above its errors.
//!
//! The validation is the `jsonschema` crate's; only the messages are mapped. Errors
//! are listed as gojsonschema walks a document: a value before its children, and for
//! one value, type first, then the object's rules, then enum and const.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value as Json;

/// Validates `values` against `schema` (the text of `values.schema.json`); the
/// lines Helm prints for it (`- field: description\n` each), or `Ok` when valid.
pub fn validate(schema: &[u8], values: &Json) -> Result<(), String> {
    let mut schema: Json =
        serde_json::from_slice(schema).map_err(|e| format!("- (root): {e}\n"))?;
    let draft = draft_of(&schema);
    // The draft is chosen here; left in, a `$schema` the crate does not know
    // (`http://json-schema.org/schema#` is common) would be fetched.
    if let Some(o) = schema.as_object_mut() {
        o.remove("$schema");
    }
    let validator = jsonschema::options()
        .with_draft(draft)
        // gojsonschema checks the formats it knows in every draft.
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| format!("- (root): {e}\n"))?;
    let empty = Json::Object(Default::default());
    let instance = if values.is_null() { &empty } else { values };
    let mut errors: Vec<(Vec<String>, u8, String)> = Vec::new();
    for e in validator.iter_errors(instance) {
        let path: Vec<String> = e
            .instance_path
            .as_str()
            .split('/')
            .skip(1)
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        // gojsonschema names several types in the schema's order.
        let declared = schema
            .pointer(e.schema_path.as_str())
            .and_then(Json::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Json::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            });
        for (rank, text) in describe(&e, &field(&path), declared) {
            errors.push((path.clone(), rank, text));
        }
    }
    errors.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    errors.dedup();
    if errors.is_empty() {
        return Ok(());
    }
    Err(errors
        .into_iter()
        .map(|(path, _, text)| format!("- {}: {text}\n", field(&path)))
        .collect())
}

/// gojsonschema's draft detection: `$schema` when it names one, else draft 7
/// (its "hybrid" mode reads draft 4 to 7 keywords alike).
fn draft_of(schema: &Json) -> jsonschema::Draft {
    let s = schema.get("$schema").and_then(Json::as_str).unwrap_or("");
    if s.contains("draft-04") {
        jsonschema::Draft::Draft4
    } else if s.contains("draft-06") {
        jsonschema::Draft::Draft6
    } else if s.contains("2019-09") {
        jsonschema::Draft::Draft201909
    } else if s.contains("2020-12") {
        jsonschema::Draft::Draft202012
    } else {
        jsonschema::Draft::Draft7
    }
}

/// A JSON context as gojsonschema prints it: `(root)`, or dotted below it.
fn field(path: &[String]) -> String {
    if path.is_empty() {
        "(root)".into()
    } else {
        path.join(".")
    }
}

/// gojsonschema's type name of a value (integral numbers are `integer`).
fn given(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Json::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

/// A number as gojsonschema prints a schema limit (`big.Float`'s `%v`).
fn number(v: &Json) -> String {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{}", f as i64),
        Some(f) => format!("{f}"),
        None => v.to_string(),
    }
}

fn json_text(v: &Json) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn unique_items(instance: &Json) -> String {
    let items = instance.as_array().map(Vec::as_slice).unwrap_or_default();
    for (i, a) in items.iter().enumerate() {
        if let Some(j) = items[i + 1..].iter().position(|b| b == a) {
            return format!("array items[{i},{}] must be unique", i + 1 + j);
        }
    }
    "array items must be unique".into()
}

/// The descriptions of one error, each with its rank among a value's errors.
fn describe(
    e: &jsonschema::ValidationError<'_>,
    field: &str,
    declared_types: Option<String>,
) -> Vec<(u8, String)> {
    use ValidationErrorKind as K;
    let (kind, instance) = (&e.kind, e.instance.as_ref());
    let one = |rank: u8, text: String| vec![(rank, text)];
    match kind {
        K::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(set) => {
                    let names: Vec<String> = set.iter().map(|t| t.to_string()).collect();
                    format!("[{}]", declared_types.unwrap_or_else(|| names.join(",")))
                }
            };
            one(
                0,
                format!(
                    "Invalid type. Expected: {expected}, given: {}",
                    given(instance)
                ),
            )
        }
        K::AnyOf { .. } => one(1, "Must validate at least one schema (anyOf)".into()),
        K::OneOfNotValid { .. } | K::OneOfMultipleValid { .. } => {
            one(1, "Must validate one and only one schema (oneOf)".into())
        }
        K::Not { .. } => one(1, "Must not validate the schema (not)".into()),
        K::MinProperties { limit } => one(2, format!("Must have at least {limit} properties")),
        K::MaxProperties { limit } => one(2, format!("Must have at most {limit} properties")),
        K::Required { property } => one(
            3,
            format!("{} is required", property.as_str().unwrap_or_default()),
        ),
        K::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|p| (4, format!("Additional property {p} is not allowed")))
            .collect(),
        K::MinItems { limit } => one(2, format!("Array must have at least {limit} items")),
        K::MaxItems { limit } => one(2, format!("Array must have at most {limit} items")),
        K::UniqueItems => one(2, unique_items(instance)),
        K::AdditionalItems { .. } => one(2, "No additional items allowed on array".into()),
        K::Contains => one(2, "At least one of the items must match".into()),
        K::MultipleOf { multiple_of } => one(2, format!("Must be a multiple of {multiple_of}")),
        K::Maximum { limit } => one(
            2,
            format!("Must be less than or equal to {}", number(limit)),
        ),
        K::ExclusiveMaximum { limit } => one(2, format!("Must be less than {}", number(limit))),
        K::Minimum { limit } => one(
            2,
            format!("Must be greater than or equal to {}", number(limit)),
        ),
        K::ExclusiveMinimum { limit } => one(2, format!("Must be greater than {}", number(limit))),
        K::MinLength { limit } => one(
            2,
            format!("String length must be greater than or equal to {limit}"),
        ),
        K::MaxLength { limit } => one(
            2,
            format!("String length must be less than or equal to {limit}"),
        ),
        K::Pattern { pattern } => one(2, format!("Does not match pattern '{pattern}'")),
        K::Constant { expected_value } => one(
            5,
            format!("{field} does not match: {}", json_text(expected_value)),
        ),
        K::Enum { options } => {
            let allowed: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(json_text).collect())
                .unwrap_or_default();
            one(
                5,
                format!(
                    "{field} must be one of the following: {}",
                    allowed.join(", ")
                ),
            )
        }
        K::Format { format } => one(6, format!("Does not match format '{format}'")),
        K::FalseSchema => one(1, "False always fails validation".into()),
        K::PropertyNames { .. } => one(4, "Property name does not match".into()),
        _ => one(7, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(schema: &str, values: &str) -> String {
        let v: Json = serde_json::from_str(values).unwrap();
        validate(schema.as_bytes(), &v).err().unwrap_or_default()
    }

    // Texts as helm 3.17.1 prints them (it lists sibling properties in Go's random
    // map order; here they are sorted).
    #[test]
    fn gojsonschema_wording() {
        let schema = r#"{
          "type": "object",
          "required": ["name"],
          "additionalProperties": false,
          "properties": {
            "name": {"type": "string", "pattern": "^[a-z]+$"},
            "replicas": {"type": "integer", "minimum": 1, "maximum": 5},
            "pull": {"enum": ["Always", "IfNotPresent"]},
            "image": {"type": "object", "properties": {"tag": {"type": ["string", "null"]}}}
          }
        }"#;
        assert_eq!(
            check(schema, r#"{"replicas": "3", "extra": 1}"#),
            "- (root): name is required\n- (root): Additional property extra is not allowed\n- replicas: Invalid type. Expected: integer, given: string\n"
        );
        assert_eq!(
            check(
                schema,
                r#"{"name": "Abc", "replicas": 9, "pull": "Never", "image": {"tag": 1}}"#
            ),
            "- image.tag: Invalid type. Expected: [string,null], given: integer\n- name: Does not match pattern '^[a-z]+$'\n- pull: pull must be one of the following: \"Always\", \"IfNotPresent\"\n- replicas: Must be less than or equal to 5\n"
        );
        assert_eq!(
            check(schema, r#"{"name": "ok", "replicas": 1.5}"#),
            "- replicas: Invalid type. Expected: integer, given: number\n"
        );
        assert_eq!(check(schema, r#"{"name": "ok"}"#), "");
    }

    #[test]
    fn unknown_meta_schema_is_not_fetched() {
        let schema = r#"{"$schema": "http://json-schema.org/schema#", "type": "object",
            "properties": {"port": {"type": "integer"}}}"#;
        assert_eq!(check(schema, r#"{"port": 80}"#), "");
        assert_eq!(
            check(schema, r#"{"port": "80"}"#),
            "- port: Invalid type. Expected: integer, given: string\n"
        );
    }

    #[test]
    fn other_keywords_as_helm_words_them() {
        let schema = r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "properties": {"ip": {"type": "string", "format": "ipv4"},
            "l": {"type": "array", "uniqueItems": true, "minItems": 1}, "c": {"const": "x"},
            "o": {"type": "object", "minProperties": 2}}}"#;
        assert_eq!(
            check(schema, r#"{"ip": "abc"}"#),
            "- ip: Does not match format 'ipv4'\n"
        );
        assert_eq!(
            check(schema, r#"{"l": [1, 1]}"#),
            "- l: array items[0,1] must be unique\n"
        );
        assert_eq!(
            check(schema, r#"{"c": "y"}"#),
            "- c: c does not match: \"x\"\n"
        );
        assert_eq!(
            check(schema, r#"{"o": {"a": 1}}"#),
            "- o: Must have at least 2 properties\n"
        );
        assert_eq!(
            check(schema, r#"{"l": []}"#),
            "- l: Array must have at least 1 items\n"
        );
    }
}

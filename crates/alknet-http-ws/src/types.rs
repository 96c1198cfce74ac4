//! The TypeScript declarations of a node's operations (`GET /alknet/types.d.ts`, and
//! `alknet-http types`): for each operation its input, its output (a subscription's item) and
//! its declared error codes, gathered in one `Operations` map the JS client is generic over.
//!
//! ```ts
//! import { connect } from "/alknet/client.mjs";
//! import type { Operations } from "/alknet/types.d.ts";
//! const client = await connect<Operations>(url, { token });
//! const { greeting } = await client.call("demo/greet", { name: "ada" });
//! ```

use std::collections::HashSet;
use std::fmt::Write;

use alknet_http_core::{OperationSpec, OperationType};

use crate::typescript::{doc_comment, translate};

/// The default bound on one declaration file.
pub const DEFAULT_MAX_TYPES_BYTES: usize = 8 * 1024 * 1024;

/// The declaration file of `specs`, in their order. Once the file would pass `max_bytes`, the
/// remaining operations are left out and a closing comment says how many.
///
/// ```
/// use alknet_http_core::OperationSpec;
/// use serde_json::json;
///
/// let greet = OperationSpec::query("demo/greet")
///     .with_input_schema(json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}))
///     .with_output_schema(json!({"type": "string"}));
/// let file = alknet_http_ws::declarations([&greet], 1 << 20);
/// assert!(file.contains("export type DemoGreetInput = { name: string; };"));
/// assert!(file.contains(r#""demo/greet": { kind: "query"; input: DemoGreetInput; output: DemoGreetOutput; errors: never; };"#));
/// ```
pub fn declarations<'a>(
    specs: impl IntoIterator<Item = &'a OperationSpec>,
    max_bytes: usize,
) -> String {
    let mut types = String::new();
    let mut map = String::new();
    let mut names = HashSet::new();
    let mut left_out = 0usize;
    for spec in specs {
        if left_out > 0 {
            left_out += 1;
            continue;
        }
        let (declared, entry) = operation(spec, &mut names);
        if types.len() + declared.len() + map.len() + entry.len() > max_bytes {
            left_out = 1;
            continue;
        }
        types.push_str(&declared);
        map.push_str(&entry);
    }
    let mut file = String::from(HEADER);
    file.push_str(&types);
    // A type alias, not an interface: only an alias satisfies the client's index-signature
    // constraint (`OperationMap`).
    file.push_str("/** Every operation of this file: its kind, input, output (a subscription's item) and declared error codes. */\nexport type Operations = {\n");
    file.push_str(&map);
    file.push_str("};\n");
    if left_out > 0 {
        let _ = writeln!(
            file,
            "// {left_out} more operations are left out: this file reached its size limit ({max_bytes} bytes)."
        );
    }
    file
}

const HEADER: &str = "// The operations of an alknet-http node, as TypeScript types (generated).\n\
// Use: `connect<Operations>(url, options)` from the node's /alknet/client.mjs.\n\n";

/// The type declarations of one operation, and its entry in `Operations`.
fn operation(spec: &OperationSpec, names: &mut HashSet<String>) -> (String, String) {
    let base = unique(type_name(&spec.name), names);
    let input_name = format!("{base}Input");
    let output_name = format!("{base}Output");
    let input = translate(
        &spec.self_contained(&spec.input_schema),
        &input_name,
        &input_name,
    );
    let output = translate(
        &spec.self_contained(&spec.output_schema),
        &output_name,
        &output_name,
    );
    let mut declared = String::new();
    if let Some(description) = &spec.description {
        let _ = writeln!(declared, "{}", doc_comment(description));
    }
    let _ = writeln!(declared, "export type {input_name} = {};", input.root);
    let _ = writeln!(declared, "export type {output_name} = {};", output.root);
    for (name, expr) in input.defs.iter().chain(&output.defs) {
        let _ = writeln!(declared, "export type {name} = {expr};");
    }
    declared.push('\n');
    let kind = match spec.op_type {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    let errors = if spec.error_schemas.is_empty() {
        "never".to_owned()
    } else {
        spec.error_schemas
            .iter()
            .map(|e| serde_json::Value::String(e.code.clone()).to_string())
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let mut entry = String::new();
    if let Some(description) = &spec.description {
        let _ = writeln!(entry, "  {}", doc_comment(description));
    }
    let _ = writeln!(
        entry,
        "  {}: {{ kind: \"{kind}\"; input: {input_name}; output: {output_name}; errors: {errors}; }};",
        serde_json::Value::String(spec.name.clone())
    );
    (declared, entry)
}

/// `demo/greet` → `DemoGreet`: each run of letters and digits capitalised, the rest dropped;
/// a leading digit gets an `Op` prefix.
fn type_name(operation: &str) -> String {
    let mut name = String::new();
    for part in operation.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars);
        }
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name.insert_str(0, "Op");
    }
    name
}

/// `name`, or `name2`, `name3`… when taken.
fn unique(name: String, names: &mut HashSet<String>) -> String {
    if names.insert(name.clone()) {
        return name;
    }
    (2..)
        .map(|n| format!("{name}{n}"))
        .find(|candidate| names.insert(candidate.clone()))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use alknet_http_core::OperationSpec;

    use super::{declarations, type_name, unique};

    #[test]
    fn names_are_identifiers_and_unique() {
        assert_eq!(type_name("demo/greet"), "DemoGreet");
        assert_eq!(
            type_name("imported/users.get-by_id"),
            "ImportedUsersGetById"
        );
        assert_eq!(type_name("9/x"), "Op9X");
        let mut names = HashSet::new();
        assert_eq!(unique("A".into(), &mut names), "A");
        assert_eq!(unique("A".into(), &mut names), "A2");
    }

    #[test]
    fn past_the_size_limit_the_rest_is_left_out_and_said() {
        let specs: Vec<OperationSpec> = (0..50)
            .map(|n| OperationSpec::query(format!("many/op{n}")))
            .collect();
        let file = declarations(&specs, 2_000);
        assert!(file.len() < 2_600, "{}", file.len());
        assert!(file.contains("more operations are left out"), "{file}");
        assert!(file.contains("\"many/op0\""));
    }
}

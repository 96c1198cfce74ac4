//! Typed operations: generated schemas against serde over a matrix of Rust shapes (a property
//! test), and typed handlers end to end through the registry's wire gate.

use std::collections::BTreeMap;

use alknet_http_core::typed::{input_schema, output_schema};
use alknet_http_core::{
    CallError, OperationContext, OperationRegistry, OperationSpec, RegistryError, RootCall,
};
use proptest::prelude::*;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

// ---- the matrix of shapes ----

/// Plain fields: integers of several widths, a float, an optional, a list, a map.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Plain {
    small: u8,
    count: i32,
    big: u64,
    ratio: f64,
    label: String,
    note: Option<String>,
    tags: Vec<String>,
    scores: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
enum External {
    Unit,
    Newtype(u16),
    Tuple(i8, String),
    Struct { flag: bool, at: Option<u32> },
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind")]
enum Internal {
    Circle { radius: f64 },
    Square { side: u32 },
    Empty,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "t", content = "c")]
enum Adjacent {
    Text(String),
    Pair(u8, u8),
    Nothing,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
enum Untagged {
    Number(i16),
    Named { name: String },
    List(Vec<bool>),
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Page {
    page_size: u16,
    next_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Flattened {
    id: u32,
    #[serde(flatten)]
    page: Page,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Strict {
    only: String,
    #[serde(default)]
    maybe: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Tree {
    value: i32,
    children: Vec<Tree>,
}

/// Every shape in one input, as a real operation's input would nest them.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Everything {
    plain: Plain,
    external: Vec<External>,
    internal: Internal,
    adjacent: Adjacent,
    untagged: Untagged,
    flattened: Flattened,
    strict: Strict,
    tree: Tree,
}

// ---- strategies ----

fn plain() -> impl Strategy<Value = Plain> {
    (
        any::<u8>(),
        any::<i32>(),
        any::<u64>(),
        -1e9f64..1e9,
        "[a-z]{0,6}",
        proptest::option::of("[a-z]{0,4}"),
        proptest::collection::vec("[a-z]{0,3}", 0..3),
        proptest::collection::btree_map("[a-z]{1,3}", any::<i64>(), 0..3),
    )
        .prop_map(
            |(small, count, big, ratio, label, note, tags, scores)| Plain {
                small,
                count,
                big,
                ratio,
                label,
                note,
                tags,
                scores,
            },
        )
}

fn external() -> impl Strategy<Value = External> {
    prop_oneof![
        Just(External::Unit),
        any::<u16>().prop_map(External::Newtype),
        (any::<i8>(), "[a-z]{0,3}").prop_map(|(a, b)| External::Tuple(a, b)),
        (any::<bool>(), proptest::option::of(any::<u32>()))
            .prop_map(|(flag, at)| External::Struct { flag, at }),
    ]
}

fn internal() -> impl Strategy<Value = Internal> {
    prop_oneof![
        (0.0f64..100.0).prop_map(|radius| Internal::Circle { radius }),
        any::<u32>().prop_map(|side| Internal::Square { side }),
        Just(Internal::Empty),
    ]
}

fn adjacent() -> impl Strategy<Value = Adjacent> {
    prop_oneof![
        "[a-z]{0,4}".prop_map(Adjacent::Text),
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Adjacent::Pair(a, b)),
        Just(Adjacent::Nothing),
    ]
}

fn untagged() -> impl Strategy<Value = Untagged> {
    prop_oneof![
        any::<i16>().prop_map(Untagged::Number),
        "[a-z]{1,4}".prop_map(|name| Untagged::Named { name }),
        proptest::collection::vec(any::<bool>(), 0..3).prop_map(Untagged::List),
    ]
}

fn page() -> impl Strategy<Value = Page> {
    (any::<u16>(), proptest::option::of("[a-z]{1,4}")).prop_map(|(page_size, next_token)| Page {
        page_size,
        next_token,
    })
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = any::<i32>().prop_map(|value| Tree {
        value,
        children: Vec::new(),
    });
    leaf.prop_recursive(3, 8, 3, |inner| {
        (any::<i32>(), proptest::collection::vec(inner, 0..3))
            .prop_map(|(value, children)| Tree { value, children })
    })
}

fn everything() -> impl Strategy<Value = Everything> {
    (
        plain(),
        proptest::collection::vec(external(), 0..3),
        internal(),
        adjacent(),
        untagged(),
        (any::<u32>(), page()).prop_map(|(id, page)| Flattened { id, page }),
        ("[a-z]{0,3}", any::<u8>()).prop_map(|(only, maybe)| Strict { only, maybe }),
        tree(),
    )
        .prop_map(
            |(plain, external, internal, adjacent, untagged, flattened, strict, tree)| Everything {
                plain,
                external,
                internal,
                adjacent,
                untagged,
                flattened,
                strict,
                tree,
            },
        )
}

/// A scalar of any JSON type, integral floats and out-of-range integers among them.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
        Just(json!(256)),
        Just(json!(70000)),
        Just(json!(3.0)),
        Just(json!(2.5)),
        "[a-zA-Z]{0,3}".prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
    ]
}

/// One change somewhere in a value: a leaf replaced, a key removed, an unknown key added.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(Value),
    Remove,
    AddKey(String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        scalar().prop_map(Mutation::Replace),
        Just(Mutation::Remove),
        ("[a-z]{1,5}", scalar()).prop_map(|(k, v)| Mutation::AddKey(k, v)),
    ]
}

/// Applies `mutation` at the node numbered `at` (in pre-order, modulo the node count).
fn mutate(value: &mut Value, at: usize, mutation: &Mutation) {
    let count = count_nodes(value);
    let mut target = at % count;
    apply(value, &mut target, mutation);
}

fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(fields) => fields.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Returns true once the mutation is applied.
fn apply(value: &mut Value, target: &mut usize, mutation: &Mutation) -> bool {
    if *target == 0 {
        match mutation {
            Mutation::Replace(new) => *value = new.clone(),
            Mutation::Remove => match value {
                Value::Object(fields) => {
                    let first = fields.keys().next().cloned();
                    if let Some(key) = first {
                        fields.remove(&key);
                    }
                }
                Value::Array(items) => {
                    items.pop();
                }
                _ => *value = Value::Null,
            },
            Mutation::AddKey(key, new) => match value {
                Value::Object(fields) => {
                    fields.insert(key.clone(), new.clone());
                }
                _ => *value = json!({ key.clone(): new.clone() }),
            },
        }
        return true;
    }
    *target -= 1;
    match value {
        Value::Array(items) => items.iter_mut().any(|v| apply(v, target, mutation)),
        Value::Object(fields) => fields.values_mut().any(|v| apply(v, target, mutation)),
        _ => false,
    }
}

/// One shape's generated schemas compiled, and a registry serving a typed handler of it.
struct Shape {
    input: jsonschema::Validator,
    output: jsonschema::Validator,
    registry: OperationRegistry,
}

impl Shape {
    fn of<T: Serialize + DeserializeOwned + JsonSchema + Send + 'static>() -> Shape {
        let compile = |schema: Value| {
            jsonschema::draft202012::new(&schema)
                .unwrap_or_else(|e| panic!("the generated schema does not compile: {e}: {schema}"))
        };
        Shape {
            input: compile(input_schema::<T>()),
            output: compile(output_schema::<T>()),
            registry: OperationRegistry::builder()
                .with(
                    OperationSpec::query("shape/decode").handled_by(
                        |_: T, _ctx: OperationContext| async { Ok::<_, CallError>(()) },
                    ),
                )
                .build()
                .unwrap(),
        }
    }

    /// The two directions of the property for one value: the schemas accept its serialisation;
    /// a mutation of it that the operation's input gate lets through decodes (integral floats
    /// such as `3.0` included, which JSON Schema counts as integers).
    fn check<T: Serialize>(
        &self,
        value: &T,
        at: usize,
        change: &Mutation,
    ) -> Result<(), TestCaseError> {
        let serialized = serde_json::to_value(value).unwrap();
        prop_assert!(
            self.output.is_valid(&serialized),
            "the output schema refuses what serde serialised: {serialized}"
        );
        prop_assert!(
            self.input.is_valid(&serialized),
            "the input schema refuses what serde serialised: {serialized}"
        );
        let mut candidate = serialized;
        mutate(&mut candidate, at, change);
        let answer = RUNTIME
            .block_on(
                self.registry
                    .invoke_root("shape/decode", candidate.clone(), RootCall::new()),
            )
            .result;
        match answer {
            Ok(_) => prop_assert!(self.input.is_valid(&candidate)),
            Err(error) => {
                prop_assert_eq!(&error.code, "INVALID_INPUT");
                prop_assert!(
                    !self.input.is_valid(&candidate),
                    "the input schema accepts what serde refuses: {candidate}: {}",
                    error.message
                );
            }
        }
        Ok(())
    }
}

struct Shapes {
    everything: Shape,
    tree: Shape,
    flattened: Shape,
    strict: Shape,
    untagged: Shape,
    internal: Shape,
    adjacent: Shape,
    external: Shape,
    plain: Shape,
}

static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
});

static SHAPES: std::sync::LazyLock<Shapes> = std::sync::LazyLock::new(|| Shapes {
    everything: Shape::of::<Everything>(),
    tree: Shape::of::<Tree>(),
    flattened: Shape::of::<Flattened>(),
    strict: Shape::of::<Strict>(),
    untagged: Shape::of::<Untagged>(),
    internal: Shape::of::<Internal>(),
    adjacent: Shape::of::<Adjacent>(),
    external: Shape::of::<Vec<External>>(),
    plain: Shape::of::<Plain>(),
});

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn generated_schemas_agree_with_serde(
        value in everything(),
        at in any::<usize>(),
        change in mutation(),
    ) {
        let shapes = &*SHAPES;
        shapes.everything.check(&value, at, &change)?;
        // Each shape alone too: the mutation then lands on the shape's own structure.
        shapes.tree.check(&value.tree, at, &change)?;
        shapes.flattened.check(&value.flattened, at, &change)?;
        shapes.strict.check(&value.strict, at, &change)?;
        shapes.untagged.check(&value.untagged, at, &change)?;
        shapes.internal.check(&value.internal, at, &change)?;
        shapes.adjacent.check(&value.adjacent, at, &change)?;
        shapes.external.check(&value.external, at, &change)?;
        shapes.plain.check(&value.plain, at, &change)?;
    }
}

// ---- declared errors ----

/// Declared errors of every variant shape: fields, a newtype, none.
#[derive(Debug, Serialize, JsonSchema, thiserror::Error)]
#[serde(tag = "code", content = "details", rename_all = "SCREAMING_SNAKE_CASE")]
enum Declared {
    /// The quota is used up.
    #[error("quota of {limit} used")]
    #[schemars(extend("x-http-status" = 429))]
    QuotaUsed { limit: u32 },
    /// A newtype variant: its value is the details.
    #[error("blocked: {0}")]
    Blocked(String),
    /// No details at all.
    #[error("closed")]
    #[schemars(extend("x-http-status" = 503))]
    Closed,
}

#[test]
fn each_variant_declares_its_code_description_status_and_details_schema() {
    let definitions = <Declared as alknet_http_core::typed::DeclaredErrors>::definitions().unwrap();
    let codes: Vec<_> = definitions.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["QUOTA_USED", "BLOCKED", "CLOSED"]);
    assert_eq!(definitions[0].description, "The quota is used up.");
    assert_eq!(definitions[0].http_status, Some(429));
    assert_eq!(
        definitions[0].schema["properties"]["limit"]["type"],
        "integer"
    );
    assert_eq!(definitions[1].http_status, None);
    assert_eq!(definitions[1].schema["type"], "string");
    assert_eq!(definitions[2].http_status, Some(503));
}

#[tokio::test]
async fn a_declared_error_answers_its_code_message_and_details() {
    let registry = OperationRegistry::builder()
        .with(OperationSpec::mutation("quota/spend").handled_by(
            |n: u32, _ctx: OperationContext| async move {
                match n {
                    0 => Err::<(), _>(Declared::Closed),
                    1 => Err(Declared::Blocked("by policy".into())),
                    _ => Err(Declared::QuotaUsed { limit: n }),
                }
            },
        ))
        .build()
        .unwrap();
    let answer = |n: u32| registry.invoke_root("quota/spend", json!(n), RootCall::new());
    let used = answer(9).await.result.unwrap_err();
    assert_eq!(
        (used.code.as_str(), used.message.as_str()),
        ("QUOTA_USED", "quota of 9 used")
    );
    assert_eq!(used.details, Some(json!({ "limit": 9 })));
    let blocked = answer(1).await.result.unwrap_err();
    assert_eq!(blocked.details, Some(json!("by policy")));
    let closed = answer(0).await.result.unwrap_err();
    assert_eq!((closed.code.as_str(), closed.details), ("CLOSED", None));
    // What the schema refuses never reaches the handler.
    let refused = registry
        .invoke_root("quota/spend", json!(-1), RootCall::new())
        .await
        .result
        .unwrap_err();
    assert_eq!(refused.code, "INVALID_INPUT");
}

/// Not tagged `{code, details}`: serde's default (externally tagged) representation.
#[derive(Debug, Serialize, JsonSchema, thiserror::Error)]
enum NotTagged {
    #[error("oops")]
    Oops { reason: String },
}

/// A status outside 4xx and 5xx.
#[derive(Debug, Serialize, JsonSchema, thiserror::Error)]
#[serde(tag = "code", content = "details")]
enum NotAnErrorStatus {
    #[error("fine")]
    #[schemars(extend("x-http-status" = 200))]
    Fine,
}

/// A variant whose code is a protocol code.
#[derive(Debug, Serialize, JsonSchema, thiserror::Error)]
#[serde(tag = "code", content = "details", rename_all = "SCREAMING_SNAKE_CASE")]
enum ReusesAProtocolCode {
    #[error("gone")]
    NotFound,
}

#[test]
fn an_error_type_that_cannot_declare_its_errors_is_refused_at_build() {
    let refused = OperationRegistry::builder()
        .with(OperationSpec::query("bad/untagged").handled_by(
            |_: (), _ctx: OperationContext| async {
                Err::<(), _>(NotTagged::Oops { reason: "x".into() })
            },
        ))
        .build()
        .unwrap_err();
    assert!(
        matches!(&refused, RegistryError::InvalidDeclaredErrors { name, reason }
            if name == "bad/untagged" && reason.contains("tag = \"code\"")),
        "{refused}"
    );
    let refused = OperationRegistry::builder()
        .with(OperationSpec::query("bad/status").handled_by(
            |_: (), _ctx: OperationContext| async { Err::<(), _>(NotAnErrorStatus::Fine) },
        ))
        .build()
        .unwrap_err();
    assert!(
        refused.to_string().contains("not a 4xx or 5xx status"),
        "{refused}"
    );
    let refused = OperationRegistry::builder()
        .with(
            OperationSpec::query("bad/code").handled_by(|_: (), _ctx: OperationContext| async {
                Err::<(), _>(ReusesAProtocolCode::NotFound)
            }),
        )
        .build()
        .unwrap_err();
    assert!(
        refused.to_string().contains("NOT_FOUND is a protocol code"),
        "{refused}"
    );
}

// ---- typed calls over a session ----

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
struct Count {
    to: u32,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
struct Step {
    at: u32,
}

#[tokio::test]
async fn a_session_calls_and_subscribes_with_typed_values() {
    use alknet_http_core::session::{Session, SessionOptions};
    use futures::StreamExt;

    let served = OperationRegistry::builder()
        .with(OperationSpec::query("steps/last").handled_by(
            |input: Count, _ctx: OperationContext| async move {
                Ok::<_, CallError>(Step { at: input.to })
            },
        ))
        .with(OperationSpec::subscription("steps/count").streamed_by(
            |input: Count, _ctx: OperationContext| {
                futures::stream::iter(
                    (0..input.to).map(|at| Ok::<_, CallError>(json!({ "at": at }))),
                )
                .chain(futures::stream::once(async {
                    Ok(json!({ "at": "not a number" }))
                }))
            },
        ))
        .build()
        .unwrap();
    let (a, b) = tokio::io::duplex(64 * 1024);
    let _server = Session::over_io(a, SessionOptions::new(served));
    let client = Session::over_io(b, SessionOptions::new(OperationRegistry::empty()));

    let last: Step = client
        .call_typed("steps/last", &Count { to: 7 })
        .await
        .unwrap();
    assert_eq!(last, Step { at: 7 });
    let wrong = client
        .call_typed::<Count>("steps/last", &Count { to: 7 })
        .await
        .unwrap_err();
    assert_eq!(wrong.code, "INTERNAL");
    let refused = client
        .call_typed::<Step>("steps/last", &json!({ "to": -1 }))
        .await
        .unwrap_err();
    assert_eq!(refused.code, "INVALID_INPUT");

    let items: Vec<_> = client
        .subscribe_typed::<Step>("steps/count", &Count { to: 2 })
        .await
        .collect()
        .await;
    // Two items, then the one that does not decode ends the stream.
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), &Step { at: 0 });
    assert_eq!(items[1].as_ref().unwrap(), &Step { at: 1 });
    assert_eq!(items[2].as_ref().unwrap_err().code, "INTERNAL");
}

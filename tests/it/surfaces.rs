//! The gateway's semantics, once, seen the same from every surface: one real node, and each
//! scenario run through the HTTP gateway, MCP (rmcp's streamable-HTTP client), the WebSocket
//! session (the Rust client) and the QUIC session (the native dialer), where it applies.
//!
//! Scenarios: per-caller filtering; declared errors (of a typed operation, with their details,
//! and an input past the schema that does not decode); batch order and limits (gateway and MCP,
//! the surfaces that batch); a Mutation that survives its caller's disconnect and a Query that
//! is dropped on it; rate limits, refused alike with `RATE_LIMITED` and when to retry, a
//! limited caller leaving the others alone.

use std::net::SocketAddr;
use std::sync::Arc;

use alknet_http::{Listener, Node, RunningNode};
use alknet_http_core::quic::{QuicConfig, QuicDialer, ServerIdentity, ServerVerification};
use alknet_http_core::rate_limit::{RateLimit, RateLimits};
use alknet_http_core::session::{OutgoingOptions, Session, SessionOptions};
use alknet_http_core::{
    AccessControl, Capabilities, HandlerKind, Identity, OperationContext, OperationRegistry,
    OperationSpec, StaticTokenProvider,
};
use alknet_http_mcp::rmcp::model::{CallToolRequestParams, ClientConfig};
use alknet_http_mcp::rmcp::service::{RoleClient, RunningService, ServiceExt};
use alknet_http_mcp::rmcp::transport::StreamableHttpClientTransport;
use alknet_http_mcp::rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use alknet_http_tests::{Probe, within};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A caller with the `suite` scope.
const MEMBER: &str = "tok-member-0123456789";
/// A caller with no scope.
const GUEST: &str = "tok-guest-0123456789";
/// The batch limit of both batching surfaces.
const MAX_BATCH: usize = 3;

/// The operations every scenario uses, and the probes of the two that hold.
struct Suite {
    query: Probe,
    mutation: Probe,
}

impl Suite {
    fn registry(&self, limits: Option<Arc<RateLimits>>) -> OperationRegistry {
        let member = || AccessControl::scopes(["suite"]);
        let builder = match limits {
            Some(limits) => OperationRegistry::builder().with_rate_limits(limits),
            None => OperationRegistry::builder(),
        };
        builder
            .with_leaf(
                OperationSpec::query("suite/open").with_description("Open to every caller"),
                HandlerKind::once(|input, _| async move { Ok(input) }),
                Capabilities::new(),
            )
            .with_leaf(
                OperationSpec::query("suite/secret")
                    .with_description("Members only")
                    .with_access_control(member()),
                HandlerKind::once(|_, _| async move { Ok(json!("secret")) }),
                Capabilities::new(),
            )
            .with_leaf(
                OperationSpec::query("suite/hidden").internal(),
                HandlerKind::once(|_, _| async move { Ok(json!("hidden")) }),
                Capabilities::new(),
            )
            .with(
                OperationSpec::mutation("suite/register")
                    .with_access_control(member())
                    .handled_by(register),
            )
            .with_leaf(
                OperationSpec::query("suite/hold").with_access_control(member()),
                self.query.handler(json!("held")),
                Capabilities::new(),
            )
            .with_leaf(
                OperationSpec::mutation("suite/commit").with_access_control(member()),
                self.mutation.handler(json!("committed")),
                Capabilities::new(),
            )
            .build()
            .unwrap()
    }
}

/// The input of the typed `suite/register`: a name, and where from. The schema of an address
/// is a string (its `format` is not checked), so `"somewhere"` passes the schema and fails to
/// decode.
#[derive(Deserialize, JsonSchema)]
struct Register {
    name: String,
    from: Option<std::net::IpAddr>,
}

/// The declared errors of `suite/register`.
#[derive(Debug, Serialize, JsonSchema, thiserror::Error)]
#[serde(tag = "code", content = "details", rename_all = "SCREAMING_SNAKE_CASE")]
enum RegisterError {
    /// The name is taken.
    #[error("{name} is taken")]
    #[schemars(extend("x-http-status" = 409))]
    NameTaken { name: String },
}

async fn register(input: Register, _ctx: OperationContext) -> Result<Value, RegisterError> {
    if input.name == "taken" {
        return Err(RegisterError::NameTaken { name: input.name });
    }
    Ok(json!({ "registered": input.name, "from": input.from }))
}

/// One node serving every surface on loopback: HTTP (gateway, MCP, WebSocket) and QUIC.
struct Fixture {
    suite: Suite,
    node: Option<RunningNode>,
    http: SocketAddr,
    quic: SocketAddr,
    pin: String,
}

async fn fixture() -> Fixture {
    fixture_limited(None).await
}

/// The fixture, its root calls limited by `limits`.
async fn fixture_limited(limits: Option<Arc<RateLimits>>) -> Fixture {
    alknet_http_core::client::install_crypto_provider();
    let suite = Suite {
        query: Probe::new(),
        mutation: Probe::new(),
    };
    let tokens = StaticTokenProvider::new()
        .with_token(MEMBER, Identity::new("member").with_scopes(["suite"]))
        .unwrap()
        .with_token(GUEST, Identity::new("guest"))
        .unwrap();
    let identity = ServerIdentity::self_signed(["localhost"]).unwrap();
    let pin = identity.fingerprint_sha256();
    let mut gateway = alknet_http_gateway::GatewayConfig::default();
    gateway.max_batch_len = MAX_BATCH;
    let mut mcp = alknet_http_mcp::McpConfig::default();
    mcp.max_batch_len = MAX_BATCH;
    let node = Node::builder()
        .registry(suite.registry(limits))
        .identity_provider(Arc::new(tokens))
        .listen(Listener::Http("127.0.0.1:0".parse().unwrap()))
        .listen(Listener::Quic("127.0.0.1:0".parse().unwrap(), identity))
        .gateway_config(gateway)
        .mcp_config(mcp)
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let addr = |scheme| {
        node.addresses()
            .iter()
            .find(|a| a.scheme == scheme)
            .unwrap()
            .addr
    };
    Fixture {
        http: addr("http"),
        quic: addr("quic"),
        suite,
        pin,
        node: Some(node),
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            tokio::spawn(node.shutdown());
        }
    }
}

/// The surfaces a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Surface {
    Http,
    Mcp,
    WebSocket,
    Quic,
}

const EVERY_SURFACE: [Surface; 4] = [
    Surface::Http,
    Surface::Mcp,
    Surface::WebSocket,
    Surface::Quic,
];

/// A failed call as every surface reports it: the code, its details, and the HTTP status where
/// the surface has one.
#[derive(Debug, PartialEq)]
struct Failure {
    code: String,
    details: Option<Value>,
    status: Option<u16>,
    retry_after_ms: Option<u64>,
}

/// A caller connected to one surface with one token.
enum Caller {
    Http {
        client: reqwest::Client,
        base: String,
        token: String,
    },
    Mcp(RunningService<RoleClient, ClientConfig>),
    Session {
        session: Session,
        token: String,
    },
}

impl Fixture {
    async fn caller(&self, surface: Surface, token: &str) -> Caller {
        match surface {
            Surface::Http => Caller::Http {
                client: reqwest::Client::new(),
                base: format!("http://{}", self.http),
                token: token.to_owned(),
            },
            Surface::Mcp => {
                let config = StreamableHttpClientTransportConfig::with_uri(format!(
                    "http://{}/mcp",
                    self.http
                ))
                .auth_header(token);
                let transport =
                    StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
                Caller::Mcp(
                    within(ClientConfig::default().serve(transport))
                        .await
                        .unwrap(),
                )
            }
            Surface::WebSocket => {
                let url = format!("ws://{}/alknet/call", self.http);
                let options = alknet_http_ws::client::ClientOptions::new(Some(token.into()));
                let session = within(alknet_http_ws::client::connect(&url, options))
                    .await
                    .unwrap();
                Caller::Session {
                    session,
                    token: token.to_owned(),
                }
            }
            Surface::Quic => {
                let dialer = QuicDialer::new(
                    ServerVerification::pinned([&self.pin]),
                    QuicConfig::default(),
                )
                .unwrap();
                let options = SessionOptions::new(OperationRegistry::empty());
                let session = within(dialer.connect(self.quic, "localhost", options))
                    .await
                    .unwrap();
                Caller::Session {
                    session,
                    token: token.to_owned(),
                }
            }
        }
    }
}

/// A `POST` of `body` as JSON to the gateway, with the caller's token.
async fn post(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn mcp_result(result: alknet_http_mcp::rmcp::model::CallToolResult) -> Result<Value, Failure> {
    let content = result.structured_content.unwrap_or(Value::Null);
    if result.is_error == Some(true) {
        return Err(Failure {
            code: content["code"].as_str().unwrap_or_default().to_owned(),
            details: content.get("details").cloned(),
            status: None,
            retry_after_ms: content["retry_after_ms"].as_u64(),
        });
    }
    Ok(content)
}

fn tool(name: &'static str, arguments: Value) -> CallToolRequestParams {
    let Value::Object(arguments) = arguments else {
        unreachable!("tool arguments are objects")
    };
    CallToolRequestParams::new(name).with_arguments(arguments)
}

impl Caller {
    /// The names of the operations this caller may find.
    async fn search(&self) -> Vec<String> {
        let listing = match self {
            Caller::Http {
                client,
                base,
                token,
            } => client
                .get(format!("{base}/search"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap(),
            Caller::Mcp(client) => {
                mcp_result(client.call_tool(tool("search", json!({}))).await.unwrap()).unwrap()
            }
            Caller::Session { .. } => self.call("/services/list", Value::Null).await.unwrap(),
        };
        let mut names: Vec<String> = listing["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|op| op["name"].as_str().unwrap().to_owned())
            .filter(|name| !name.starts_with("services/"))
            .collect();
        names.sort();
        names
    }

    /// Calls `operation` once.
    async fn call(&self, operation: &str, input: Value) -> Result<Value, Failure> {
        match self {
            Caller::Http {
                client,
                base,
                token,
            } => {
                let envelope = json!({"operation": operation, "input": input});
                let response = post(client, base, token, "/call", &envelope).await;
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                if status == 200 {
                    Ok(body)
                } else {
                    Err(Failure {
                        code: body["code"].as_str().unwrap_or_default().to_owned(),
                        details: body.get("details").cloned(),
                        status: Some(status),
                        retry_after_ms: body["retry_after_ms"].as_u64(),
                    })
                }
            }
            Caller::Mcp(client) => {
                let args = json!({"operation": operation, "input": input});
                let result = client.call_tool(tool("call", args)).await.unwrap();
                mcp_result(result).map(|content| content["output"].clone())
            }
            Caller::Session { session, token } => {
                let options = OutgoingOptions {
                    auth_token: Some(token.clone()),
                    ..OutgoingOptions::default()
                };
                session
                    .request(operation, input, options)
                    .await
                    .map_err(|e| Failure {
                        code: e.code,
                        details: e.details,
                        status: None,
                        retry_after_ms: e.retry_after_ms,
                    })
            }
        }
    }

    /// A batch: the outcomes in order (`Ok` output or `Err` code and status), or the
    /// refusal of the whole batch.
    async fn batch(&self, calls: Value) -> Result<Vec<Result<Value, Failure>>, String> {
        let results = match self {
            Caller::Http {
                client,
                base,
                token,
            } => {
                let response = post(client, base, token, "/batch", &calls).await;
                if response.status() != 200 {
                    return Err(response.text().await.unwrap());
                }
                response.json::<Value>().await.unwrap()
            }
            Caller::Mcp(client) => {
                let result = client
                    .call_tool(tool("batch", json!({"calls": calls})))
                    .await
                    .map_err(|e| e.to_string())?;
                mcp_result(result).unwrap()["results"].clone()
            }
            Caller::Session { .. } => unreachable!("sessions do not batch"),
        };
        Ok(results
            .as_array()
            .unwrap()
            .iter()
            .map(|outcome| match outcome.get("output") {
                Some(output) => Ok(output.clone()),
                None => Err(Failure {
                    code: outcome["error"]["code"].as_str().unwrap().to_owned(),
                    details: outcome["error"].get("details").cloned(),
                    status: outcome["status"].as_u64().map(|s| s as u16),
                    retry_after_ms: outcome["error"]["retry_after_ms"].as_u64(),
                }),
            })
            .collect())
    }

    /// Starts a call of `operation`, waits until `started` says its handler runs, then goes
    /// away the way a client of this surface does: the HTTP request is dropped, the MCP client
    /// cancels and ends its session, the session is closed.
    async fn call_then_vanish(self, operation: &'static str, started: &Probe) {
        let before = started.started();
        match self {
            Caller::Mcp(client) => {
                let peer = client.peer().clone();
                let call = tokio::spawn(async move {
                    let args = json!({"operation": operation, "input": null});
                    peer.call_tool(tool("call", args)).await
                });
                started.wait_for(Probe::started, before + 1).await;
                call.abort();
                let _ = client.cancel().await;
            }
            Caller::Session { session, token } => {
                let call = {
                    let session = session.clone();
                    tokio::spawn(async move {
                        let options = OutgoingOptions {
                            auth_token: Some(token),
                            ..OutgoingOptions::default()
                        };
                        session.request(operation, Value::Null, options).await
                    })
                };
                started.wait_for(Probe::started, before + 1).await;
                session.close();
                let _ = within(call).await;
            }
            http @ Caller::Http { .. } => {
                let call = tokio::spawn(async move {
                    let _ = http.call(operation, Value::Null).await;
                });
                started.wait_for(Probe::started, before + 1).await;
                call.abort();
            }
        }
    }
}

#[tokio::test]
async fn each_caller_finds_what_it_may_call_on_every_surface() {
    let f = fixture().await;
    for surface in EVERY_SURFACE {
        let member = f.caller(surface, MEMBER).await;
        let guest = f.caller(surface, GUEST).await;
        assert_eq!(
            member.search().await,
            [
                "suite/commit",
                "suite/hold",
                "suite/open",
                "suite/register",
                "suite/secret"
            ],
            "{surface:?}"
        );
        assert_eq!(guest.search().await, ["suite/open"], "{surface:?}");
        // Hidden and unknown look alike; what the caller may not call is refused as such.
        let hidden = guest.call("/suite/hidden", json!(null)).await.unwrap_err();
        let unknown = guest.call("/suite/nothing", json!(null)).await.unwrap_err();
        assert_eq!(hidden.code, "NOT_FOUND", "{surface:?}");
        assert_eq!(hidden, unknown, "{surface:?}");
        let refused = guest.call("/suite/secret", json!(null)).await.unwrap_err();
        assert_eq!(refused.code, "FORBIDDEN", "{surface:?}");
        if surface == Surface::Http {
            assert_eq!(refused.status, Some(403));
        }
        assert_eq!(
            member.call("/suite/secret", json!(null)).await,
            Ok(json!("secret")),
            "{surface:?}"
        );
    }
}

#[tokio::test]
async fn declared_errors_keep_their_code_on_every_surface() {
    let f = fixture().await;
    for surface in EVERY_SURFACE {
        let member = f.caller(surface, MEMBER).await;
        let taken = member
            .call("/suite/register", json!({"name": "taken"}))
            .await
            .unwrap_err();
        assert_eq!(taken.code, "NAME_TAKEN", "{surface:?}");
        assert_eq!(taken.details, Some(json!({"name": "taken"})), "{surface:?}");
        if surface == Surface::Http {
            assert_eq!(taken.status, Some(409));
        }
        assert_eq!(
            member
                .call("/suite/register", json!({"name": "ada", "from": "::1"}))
                .await,
            Ok(json!({"registered": "ada", "from": "::1"})),
            "{surface:?}"
        );
        // Past the schema (an address is a string there), refused by serde: INVALID_INPUT.
        let undecodable = member
            .call(
                "/suite/register",
                json!({"name": "ada", "from": "somewhere"}),
            )
            .await
            .unwrap_err();
        assert_eq!(undecodable.code, "INVALID_INPUT", "{surface:?}");
        if surface == Surface::Http {
            assert_eq!(undecodable.status, Some(422));
        }
        // Refused by the schema itself, as before.
        let invalid = member
            .call("/suite/register", json!({"name": 7}))
            .await
            .unwrap_err();
        assert_eq!(invalid.code, "INVALID_INPUT", "{surface:?}");
    }
}

#[tokio::test]
async fn batches_keep_their_order_and_limit_on_the_gateway_and_mcp() {
    let f = fixture().await;
    for surface in [Surface::Http, Surface::Mcp] {
        let guest = f.caller(surface, GUEST).await;
        let outcomes = guest
            .batch(json!([
                {"operation": "/suite/open", "input": 1},
                {"operation": "/suite/secret"},
                {"operation": "/suite/open", "input": 3},
            ]))
            .await
            .unwrap();
        assert_eq!(outcomes.len(), 3, "{surface:?}");
        assert_eq!(outcomes[0], Ok(json!(1)), "{surface:?}");
        assert_eq!(
            outcomes[1],
            Err(Failure {
                code: "FORBIDDEN".into(),
                details: Some(json!({"reason": "insufficient_scope", "scopes": ["suite"]})),
                status: Some(403),
                retry_after_ms: None,
            }),
            "{surface:?}"
        );
        assert_eq!(outcomes[2], Ok(json!(3)), "{surface:?}");
        let member = f.caller(surface, MEMBER).await;
        let declared = member
            .batch(json!([{"operation": "/suite/register", "input": {"name": "taken"}}]))
            .await
            .unwrap();
        assert_eq!(
            declared[0],
            Err(Failure {
                code: "NAME_TAKEN".into(),
                details: Some(json!({"name": "taken"})),
                status: Some(409),
                retry_after_ms: None,
            }),
            "{surface:?}"
        );
        let too_many: Vec<Value> = (0..=MAX_BATCH)
            .map(|n| json!({"operation": "/suite/open", "input": n}))
            .collect();
        let refused = guest.batch(Value::Array(too_many)).await.unwrap_err();
        assert!(
            refused.contains(&format!("maximum of {MAX_BATCH}")),
            "{surface:?}: {refused}"
        );
    }
}

#[tokio::test]
async fn a_mutation_survives_its_callers_disconnect_on_every_surface() {
    let f = fixture().await;
    let probe = &f.suite.mutation;
    for (n, surface) in EVERY_SURFACE.into_iter().enumerate() {
        let member = f.caller(surface, MEMBER).await;
        member.call_then_vanish("/suite/commit", probe).await;
        // The caller is gone; the Mutation is still running, not dropped.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(probe.dropped(), 0, "{surface:?}: the Mutation was dropped");
        assert_eq!(probe.finished(), n, "{surface:?}");
        probe.release();
        probe.wait_for(Probe::finished, n + 1).await;
        probe.hold();
    }
}

#[tokio::test]
async fn a_query_is_dropped_when_its_caller_goes_away_on_every_surface() {
    let f = fixture().await;
    let probe = &f.suite.query;
    for (n, surface) in EVERY_SURFACE.into_iter().enumerate() {
        let member = f.caller(surface, MEMBER).await;
        member.call_then_vanish("/suite/hold", probe).await;
        probe.wait_for(Probe::dropped, n + 1).await;
        assert_eq!(probe.finished(), 0, "{surface:?}");
    }
}

#[tokio::test]
async fn rate_limits_refuse_alike_on_every_surface_and_only_the_limited_caller() {
    let minute = std::time::Duration::from_secs(60);
    let limits = RateLimits::new(vec![
        // One `suite/secret` a minute per member.
        RateLimit::per_identity(1, minute).for_operations(["suite/secret"]),
        // A tier: callers holding `suite` get three `suite/*` calls a minute; guests are free.
        RateLimit::per_identity(3, minute)
            .for_operations(["suite/*"])
            .for_scope("suite"),
    ])
    .unwrap();
    let f = fixture_limited(Some(Arc::new(limits))).await;
    let first = f.caller(Surface::Http, MEMBER).await;
    assert_eq!(
        first.call("/suite/secret", json!(null)).await,
        Ok(json!("secret"))
    );
    for surface in EVERY_SURFACE {
        let member = f.caller(surface, MEMBER).await;
        let limited = member.call("/suite/secret", json!(null)).await.unwrap_err();
        assert_eq!(limited.code, "RATE_LIMITED", "{surface:?}");
        let wait = limited.retry_after_ms.expect("when to retry");
        assert!(wait > 0 && wait <= 60_000, "{surface:?}: {wait} ms");
        if surface == Surface::Http {
            assert_eq!(limited.status, Some(429));
        }
    }
    // HTTP says when in `Retry-After` too.
    let response = post(
        &reqwest::Client::new(),
        &format!("http://{}", f.http),
        MEMBER,
        "/call",
        &json!({"operation": "/suite/secret", "input": null}),
    )
    .await;
    assert_eq!(response.status(), 429);
    let seconds: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&seconds), "{seconds}");

    // While the member floods `suite/open` past its tier, every guest call goes through.
    let guest = f.caller(Surface::Http, GUEST).await;
    let member = f.caller(Surface::Http, MEMBER).await;
    let flood = async {
        let mut outcomes = Vec::new();
        for _ in 0..20 {
            outcomes.push(member.call("/suite/open", json!(1)).await.is_ok());
        }
        outcomes
    };
    let guests = async {
        let mut outcomes = Vec::new();
        for n in 0..20 {
            outcomes.push(guest.call("/suite/open", json!(n)).await);
        }
        outcomes
    };
    let (flooded, guest_calls) = tokio::join!(flood, guests);
    // The member's tier counted the `suite/secret` calls before: none of these passed, or at
    // most what was left of its three.
    assert!(flooded.iter().filter(|ok| **ok).count() <= 2, "{flooded:?}");
    assert!(flooded.iter().any(|ok| !ok));
    for (n, outcome) in guest_calls.into_iter().enumerate() {
        assert_eq!(outcome, Ok(json!(n)), "guest call {n}");
    }
}

#[tokio::test]
async fn anonymous_callers_are_limited_by_address_and_upgrades_by_attempts() {
    let minute = std::time::Duration::from_secs(60);
    let limits = RateLimits::new(vec![
        // Two anonymous calls a minute from one address; identified callers are not counted.
        RateLimit::per_address(2, minute).for_operations(["suite/open"]),
        // Three WebSocket upgrade attempts a minute from one address, good token or not.
        RateLimit::upgrades_per_address(3, minute),
    ])
    .unwrap();
    let f = fixture_limited(Some(Arc::new(limits))).await;
    for surface in [Surface::Http, Surface::Quic] {
        // A fresh fixture per surface would give a fresh budget; one node, so count on: each
        // surface's anonymous caller shares the loopback address's two calls.
        let anonymous = f.caller(surface, "").await;
        let first = anonymous.call("/suite/open", json!(1)).await;
        if surface == Surface::Http {
            assert_eq!(first, Ok(json!(1)));
            assert_eq!(anonymous.call("/suite/open", json!(2)).await, Ok(json!(2)));
        }
        let limited = anonymous.call("/suite/open", json!(3)).await.unwrap_err();
        assert_eq!(limited.code, "RATE_LIMITED", "{surface:?}");
        assert!(
            limited.retry_after_ms.is_some_and(|ms| ms > 0),
            "{surface:?}"
        );
        // The same address with a token is someone: its calls go through.
        let guest = f.caller(surface, GUEST).await;
        assert_eq!(
            guest.call("/suite/open", json!(4)).await,
            Ok(json!(4)),
            "{surface:?}"
        );
    }
    // Upgrades: three attempts (one refused for its token still counts), then 429.
    let url = format!("ws://{}/alknet/call", f.http);
    let connect = |token: Option<&str>| {
        alknet_http_ws::client::connect(
            &url,
            alknet_http_ws::client::ClientOptions::new(token.map(str::to_owned)),
        )
    };
    assert!(connect(Some(GUEST)).await.is_ok());
    assert!(matches!(
        connect(Some("alk_wrong")).await,
        Err(alknet_http_ws::client::WsClientError::Refused(401))
    ));
    assert!(connect(Some(MEMBER)).await.is_ok());
    assert!(matches!(
        connect(Some(MEMBER)).await,
        Err(alknet_http_ws::client::WsClientError::Refused(429))
    ));
    // Calls are not upgrades: the member's HTTP calls still go through.
    let member = f.caller(Surface::Http, MEMBER).await;
    assert_eq!(member.call("/suite/open", json!(5)).await, Ok(json!(5)));
}

#[tokio::test]
async fn a_caller_short_of_scopes_is_told_which_on_every_surface() {
    let f = fixture().await;
    for surface in EVERY_SURFACE {
        let guest = f.caller(surface, GUEST).await;
        let refused = guest.call("/suite/secret", json!(null)).await.unwrap_err();
        assert_eq!(refused.code, "FORBIDDEN", "{surface:?}");
        assert_eq!(
            refused.details,
            Some(json!({"reason": "insufficient_scope", "scopes": ["suite"]})),
            "{surface:?}"
        );
    }
    // HTTP says it as RFC 6750 does; an anonymous caller is asked to authenticate instead.
    let client = reqwest::Client::new();
    let base = format!("http://{}", f.http);
    let envelope = json!({"operation": "/suite/secret", "input": null});
    let response = post(&client, &base, GUEST, "/call", &envelope).await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\", scope=\"suite\""
    );
    let response = post(&client, &base, "", "/call", &envelope).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
}

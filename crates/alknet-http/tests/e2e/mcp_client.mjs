// The official MCP TypeScript SDK against a node's /mcp: prints one JSON report.
//
// usage: node mcp_client.mjs URL TOKEN ERA
// ERA `legacy`: `@modelcontextprotocol/sdk` 1.x (the initialize handshake, a session);
// ERA `2026-07-28`: `@modelcontextprotocol/client` 2.x pinned to the stateless revision.
// ALKNET_E2E_NODE_MODULES names the node_modules holding both.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import path from "node:path";

const modules = process.env.ALKNET_E2E_NODE_MODULES;
const require = createRequire(path.join(modules, "noop.js"));
const load = (specifier) => import(pathToFileURL(require.resolve(specifier)).href);

const [url, token, era] = process.argv.slice(2);
const modern = era !== "legacy";
const sdk = modern
  ? await load("@modelcontextprotocol/client")
  : {
      ...(await load("@modelcontextprotocol/sdk/client/index.js")),
      ...(await load("@modelcontextprotocol/sdk/client/streamableHttp.js")),
    };

async function connect(headers) {
  const options = modern ? { versionNegotiation: { mode: { pin: era } } } : {};
  const client = new sdk.Client({ name: "alknet-e2e", version: "1.0.0" }, options);
  const transport = new sdk.StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  await client.connect(transport);
  if (modern) {
    // The stateless revision connects without a request: list to meet the node.
    await client.listTools();
  }
  return client;
}

const report = {};
const client = await connect({ Authorization: `Bearer ${token}` });
report.protocol_version = client.getNegotiatedProtocolVersion?.() ?? null;
const { tools } = await client.listTools();
report.tools = tools.map((t) => t.name);
report.annotations = Object.fromEntries(tools.map((t) => [t.name, { read_only: t.annotations?.readOnlyHint ?? null }]));
const found = await client.callTool({ name: "search", arguments: { query: "greet" } });
report.search = found.structuredContent;
const name = found.structuredContent.operations[0].name;
const schema = await client.callTool({ name: "schema", arguments: { operation: name } });
report.schema_input = schema.structuredContent.input_schema;
const called = await client.callTool({ name: "call", arguments: { operation: name, input: { name: "ts" } } });
report.call = { is_error: called.isError, structured: called.structuredContent, text: called.content[0].text };
const batch = await client.callTool({
  name: "batch",
  arguments: { calls: [{ operation: "/demo/echo", input: { n: 1 } }, { operation: "/demo/register", input: { name: "admin" } }] },
});
report.batch = batch.structuredContent;
const failed = await client.callTool({ name: "call", arguments: { operation: "/demo/register", input: { name: "admin" } } });
report.domain_error = { is_error: failed.isError, structured: failed.structuredContent };
if (report.tools.includes("demo.greet")) {
  const direct = await client.callTool({ name: "demo.greet", arguments: { name: "direct" } });
  report.direct = { is_error: direct.isError, structured: direct.structuredContent };
  const taken = await client.callTool({ name: "demo.register", arguments: { name: "admin" } });
  report.direct_error = { is_error: taken.isError, text: taken.content[0].text };
}
const progress = [];
const onprogress = (p) => progress.push({ progress: p.progress, message: p.message });
const ticksCall = { name: "call", arguments: { operation: "demo/ticks", input: { count: 3, interval_ms: 10 } } };
// 1.x takes a result schema before the options; 2.x takes the options second.
const ticks = modern
  ? await client.callTool(ticksCall, { onprogress })
  : await client.callTool(ticksCall, undefined, { onprogress });
report.subscription = { structured: ticks.structuredContent, progress };
await client.close();
try {
  const anonymous = await connect({});
  await anonymous.close();
  report.without_token = "connected";
} catch (error) {
  report.without_token = `refused: ${error.message}`;
}
console.log(JSON.stringify(report));

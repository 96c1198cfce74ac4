// The official MCP TypeScript SDK against a node's /mcp: prints one JSON report.
//
// usage: node mcp_client.mjs URL TOKEN   (NODE_PATH or a node_modules next to it must hold the SDK)
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import path from "node:path";

const modules = process.env.ALKNET_E2E_NODE_MODULES;
const require = createRequire(path.join(modules, "noop.js"));
const load = (specifier) => import(pathToFileURL(require.resolve(specifier)).href);
const { Client } = await load("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = await load("@modelcontextprotocol/sdk/client/streamableHttp.js");

const [url, token] = process.argv.slice(2);

async function connect(headers) {
  const client = new Client({ name: "alknet-e2e", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  await client.connect(transport);
  return client;
}

const report = {};
const client = await connect({ Authorization: `Bearer ${token}` });
const { tools } = await client.listTools();
report.tools = tools.map((t) => t.name);
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
await client.close();
try {
  const anonymous = await connect({});
  await anonymous.close();
  report.without_token = "connected";
} catch (error) {
  report.without_token = `refused: ${error.message}`;
}
console.log(JSON.stringify(report));

// The official MCP TypeScript SDK as an agent without a token: it follows the node's 401 to
// its protected-resource metadata, the authorization server's metadata and token endpoint
// (client credentials), then calls a tool. Prints one JSON report.
//
// usage: node mcp_oauth_client.mjs MCP_URL ISSUER   (ALKNET_E2E_NODE_MODULES holds the SDK)
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import path from "node:path";

const modules = process.env.ALKNET_E2E_NODE_MODULES;
const require = createRequire(path.join(modules, "noop.js"));
const load = (specifier) => import(pathToFileURL(require.resolve(specifier)).href);
const { Client } = await load("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = await load("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { ClientCredentialsProvider } = await load("@modelcontextprotocol/sdk/client/auth-extensions.js");

const [url, issuer] = process.argv.slice(2);
const authProvider = new ClientCredentialsProvider({
  clientId: "agent",
  clientSecret: "agent-secret",
  scope: "demo:read demo:write",
  expectedIssuer: issuer,
});
const report = {};
try {
  const client = new Client({ name: "alknet-oauth-e2e", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider }));
  report.tools = (await client.listTools()).tools.map((t) => t.name);
  const called = await client.callTool({
    name: "call",
    arguments: { operation: "/demo/greet", input: { name: "agent" } },
  });
  report.is_error = called.isError ?? false;
  report.greeting = called.structuredContent?.output?.greeting ?? null;
  report.token_audience = JSON.parse(
    Buffer.from(authProvider.tokens().access_token.split(".")[1], "base64url").toString(),
  ).aud;
  await client.close();
} catch (error) {
  report.error = String(error?.stack ?? error);
}
console.log(JSON.stringify(report));

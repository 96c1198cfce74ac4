// "Copy as": the exact call just made, as a curl line, as code for the JS client, and as an
// MCP `tools/call` request. The token is never written out: `$TOKEN` stands for it.

const quote = (text) => `'${String(text).replaceAll("'", "'\\''")}'`;

/** The MCP tool an operation is called by: its own tool when its name maps plainly, else `call`. */
export function mcpTool(operation, input) {
  const name = operation.replace(/^\/+/, "");
  const direct = name.split("/").join(".");
  const plain = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/.test(direct) && direct.length <= 64;
  if (!plain) return { name: "call", arguments: { operation: name, input } };
  const objectInput = input !== null && typeof input === "object" && !Array.isArray(input);
  return { name: direct, arguments: objectInput ? input : { input } };
}

/** `call` = { operation, input, subscription }: the three forms. */
export function copies(call, origin) {
  const envelope = JSON.stringify({ operation: call.operation, input: call.input });
  const path = call.subscription ? "subscribe" : "call";
  const curl = [
    `curl -s${call.subscription ? "N" : ""} ${origin}/${path}`,
    `-H "Authorization: Bearer $TOKEN"`,
    `-H 'content-type: application/json'`,
    call.subscription ? `-H 'accept: text/event-stream'` : "",
    `-d ${quote(envelope)}`,
  ].filter(Boolean).join(" ");
  const ws = origin.replace(/^http/, "ws");
  const args = `${JSON.stringify(call.operation)}, ${JSON.stringify(call.input)}`;
  const js = [
    `import { connect } from "${origin}/alknet/client.mjs";`,
    `const hub = await connect("${ws}/alknet/call", { token: process.env.TOKEN });`,
    call.subscription
      ? `for await (const item of hub.subscribe(${args})) console.log(item);`
      : `console.log(await hub.call(${args}));`,
    "hub.close();",
  ].join("\n");
  const tool = mcpTool(call.operation, call.input);
  const request = {
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: {
      ...tool,
      _meta: {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { name: "curl", version: "1" },
      },
    },
  };
  const mcp = [
    `curl -s ${origin}/mcp`,
    `-H "Authorization: Bearer $TOKEN"`,
    `-H 'content-type: application/json'`,
    `-H 'accept: application/json, text/event-stream'`,
    `-H 'MCP-Protocol-Version: 2026-07-28'`,
    `-H 'Mcp-Method: tools/call'`,
    `-H ${quote(`Mcp-Name: ${tool.name}`)}`,
    `-d ${quote(JSON.stringify(request))}`,
  ].join(" ");
  return { curl, js, mcp };
}

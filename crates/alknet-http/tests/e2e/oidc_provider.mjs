// A real OpenID provider (npm `oidc-provider`) issuing client-credentials access tokens as
// JWTs (RFC 9068) for any resource indicator, signed ES256 with a fresh key named KID.
// Resources ending in `/short` get tokens that live 1 s; those ending in `/future` get tokens
// not valid before an hour from now (`nbf`).
//
// usage: node oidc_provider.mjs PORT KID   (PORT 0: any; ALKNET_E2E_NODE_MODULES holds the package)
// prints `issuer <url>` once it listens; the clients are `svc` / `svc-secret` (secret in the
// form) and `agent` / `agent-secret` (HTTP Basic).
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { generateKeyPairSync } from "node:crypto";
import http from "node:http";
import path from "node:path";

const modules = process.env.ALKNET_E2E_NODE_MODULES;
const require = createRequire(path.join(modules, "noop.js"));
const { default: Provider } = await import(pathToFileURL(require.resolve("oidc-provider")).href);

const [port, kid] = process.argv.slice(2);
const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const key = { ...privateKey.export({ format: "jwk" }), kid, use: "sig", alg: "ES256" };

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(port), "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  jwks: { keys: [key] },
  clients: [
    {
      client_id: "svc",
      client_secret: "svc-secret",
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: "client_secret_post",
      id_token_signed_response_alg: "ES256",
    },
    {
      // What the MCP TypeScript SDK's ClientCredentialsProvider presents.
      client_id: "agent",
      client_secret: "agent-secret",
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: "client_secret_basic",
      id_token_signed_response_alg: "ES256",
    },
  ],
  clientDefaults: { id_token_signed_response_alg: "ES256" },
  scopes: ["demo:read", "demo:write"],
  extraTokenClaims: (_ctx, token) =>
    [token.aud].flat().some((aud) => String(aud).endsWith("/future"))
      ? { nbf: Math.floor(Date.now() / 1000) + 3600 }
      : undefined,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => ({
        scope: "demo:read demo:write",
        audience: resource,
        accessTokenTTL: resource.endsWith("/short") ? 1 : 300,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "ES256" } },
      }),
    },
  },
});
server.on("request", provider.callback());
console.log(`issuer ${issuer}`);

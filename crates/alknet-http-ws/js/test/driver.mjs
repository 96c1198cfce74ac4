// Drives a real headless Chromium (Debian's /usr/bin/chromium via playwright-core) to a page
// served by an alknet node, waits for the page's scenario to finish, and prints its results.
// Usage: node driver.mjs <page-url>; ALKNET_E2E_NODE_MODULES names the folder holding
// node_modules/playwright-core.
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const require = createRequire(join(process.env.ALKNET_E2E_NODE_MODULES ?? ".", "noop.js"));
const { chromium } = require("playwright-core");

const url = process.argv[2];
const profile = mkdtempSync(join(tmpdir(), "alknet-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  ignoreHTTPSErrors: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await context.newPage();
  page.on("console", (message) => console.error(`[page] ${message.text()}`));
  page.on("pageerror", (error) => console.error(`[page error] ${error.message}`));
  await page.goto(url);
  await page.waitForFunction(() => window.__results !== undefined, null, { timeout: 60000 });
  const results = await page.evaluate(() => window.__results);
  console.log(JSON.stringify(results));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

// Drives the console in a real headless Chromium (Debian's, via playwright-core) the way a
// person does — keyboard first — and prints what it saw as JSON; screenshots of each step go
// to the folder given. Usage: node drive.mjs <console-url> <token> <screenshot-dir>;
// ALKNET_E2E_NODE_MODULES names the folder holding node_modules/playwright-core.
import { createRequire } from "node:module";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const require = createRequire(join(process.env.ALKNET_E2E_NODE_MODULES ?? ".", "noop.js"));
const { chromium } = require("playwright-core");

const [url, token, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "alknet-console-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1200, height: 800 },
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const results = { errors: [], violations: [] };
try {
  const page = await context.newPage();
  page.on("console", (message) => console.error(`[page] ${message.text()}`));
  page.on("pageerror", (error) => results.errors.push(error.message));
  // Anything the policy blocks (an inline script, say) is reported here.
  await page.exposeFunction("__reportViolation", (what) => results.violations.push(what));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => window.__reportViolation(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  const status = (prefix) => page.waitForFunction(
    (p) => document.getElementById("status").textContent.startsWith(p), prefix, { timeout: 15000 });
  const open = async (name) => {
    await page.fill("#search", name);
    await page.click(`[data-operation="${name}"]`);
    await page.waitForFunction((n) => document.getElementById("operation-title").textContent === n, name);
  };

  const response = await page.goto(url);
  results.csp = response.headers()["content-security-policy"] ?? null;
  await shot("01-sign-in");

  // Sign in from the keyboard.
  await page.keyboard.type(token);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#operations [data-operation]");
  results.tokenInUrl = page.url().includes(token);
  results.tokenStored = await page.evaluate(() => sessionStorage.getItem("alknet.console.token") !== null);
  results.listed = await page.$$eval("[data-operation]", (b) => b.map((x) => x.dataset.operation));
  await shot("02-operations");

  // Search as you type, then open the operation from the keyboard.
  await page.keyboard.type("greet");
  results.afterSearch = await page.$$eval("[data-operation]", (b) => b.map((x) => x.dataset.operation));
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.getElementById("operation-title").textContent === "demo/greet");
  // The form from the input schema: fill `name`, send with Enter.
  results.fields = await page.$$eval("#fields [data-property]", (f) => f.map((x) => x.dataset.property));
  await page.getByLabel(/^name/).focus();
  await page.keyboard.type("ada");
  results.inputJson = JSON.parse(await page.inputValue("#input"));
  await page.keyboard.press("Enter");
  await status("OK");
  results.greetOutput = JSON.parse(await page.textContent("#output"));
  await shot("03-called");

  // Invalid input is refused before anything is sent.
  await page.fill("#input", "{ not json");
  await page.click("#send");
  results.invalidMessage = await page.textContent("#input-error");

  // A declared error, with its description.
  await open("demo/register");
  await page.getByLabel(/^name/).fill("admin");
  await page.click("#send");
  await status("Error");
  results.declaredError = await page.textContent("#status");
  results.errorOutput = JSON.parse(await page.textContent("#output"));
  await shot("04-declared-error");

  // Copy the exact call as curl.
  await page.click("#copy-curl");
  results.curl = await page.textContent("#copied");

  // A subscription, live, then stopped.
  await open("demo/ticks");
  await page.fill("#input", JSON.stringify({ count: 1000, interval_ms: 50 }));
  await page.dispatchEvent("#input", "change");
  await page.click("#send");
  await page.waitForFunction(() => document.getElementById("output").textContent.split("\n").filter(Boolean).length >= 3);
  await shot("05-subscribed");
  await page.click("#stop");
  await status("Stopped after");
  results.stopped = await page.textContent("#status");
  await shot("06-stopped");

  // An imported operation whose document holds markup: shown as text, nothing runs.
  const hostile = results.listed.find((name) => name.startsWith("hostile/"));
  if (hostile) {
    await open(hostile);
    results.hostileDescription = await page.textContent("#description");
    results.hostileListed = await page.textContent(`[data-operation="${hostile}"]`);
    await shot("07-imported-markup-as-text");
  }
  results.xss = await page.evaluate(() => window.__xss ?? null);

  // Signing out forgets the token.
  await page.click("#sign-out");
  results.tokenAfterSignOut = await page.evaluate(() => sessionStorage.getItem("alknet.console.token"));
} catch (error) {
  results.failure = String(error?.stack ?? error);
} finally {
  console.log(JSON.stringify(results));
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

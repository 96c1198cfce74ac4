// Drives the console in a real headless Chromium (Debian's, via playwright-core) the way a
// person does — keyboard first — and prints what it saw as JSON; screenshots of each step go
// to the folder given. Usage: node drive.mjs <console-url> <token> <screenshot-dir>;
// ALKNET_E2E_NODE_MODULES names the folder holding node_modules/playwright-core.
import { createRequire } from "node:module";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { tmpdir } from "node:os";
import { join } from "node:path";

const require = createRequire(join(process.env.ALKNET_E2E_NODE_MODULES ?? ".", "noop.js"));
const { chromium } = require("playwright-core");
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
// The test writes a line to our stdin when it has done its part (a hub→page call made).
const reader = createInterface({ input: process.stdin });
const lines = reader[Symbol.asyncIterator]();

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
  // axe-core on the page as it is: serious and critical violations only.
  results.axe = {};
  const axe = async (step) => {
    if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(axeSource);
    const found = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")) })));
    results.axe[step] = found;
  };
  const value = (path) => page.inputValue(`[data-path="${path}"]`);
  const open = async (name) => {
    await page.fill("#search", name);
    await page.click(`[data-operation="${name}"]`);
    await page.waitForFunction((n) => document.getElementById("operation-title").textContent === n, name);
  };

  const response = await page.goto(url);
  results.csp = response.headers()["content-security-policy"] ?? null;
  await shot("01-sign-in");
  await axe("sign-in");

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
  await page.click("#copy-js");
  results.js = await page.textContent("#copied");

  // A subscription, live, then stopped.
  await open("demo/ticks");
  await page.fill("#input", JSON.stringify({ count: 1000, interval_ms: 200 }));
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

  // A nested input: the form from the schema, kept in step with the JSON.
  await open("demo/quote");
  await page.click("#send");
  results.quoteInvalid = await page.textContent("#input-error");
  await page.fill('[data-path="traveller.name"]', "Ada");
  await page.getByRole("button", { name: "Add to stops" }).press("Enter");
  await page.keyboard.type("Lisbon");
  await page.fill('[data-path="stops[0].nights"]', "3");
  await page.selectOption('[data-path="class"]', { index: 1 });
  await page.selectOption('[data-path="payment"]', { index: 1 });
  await page.fill('[data-path="payment.invoice.company"]', "ACME");
  await page.getByLabel("note is null").check();
  results.quoteJson = JSON.parse(await page.inputValue("#input"));
  await axe("nested-form");
  await shot("08-nested-form");
  await page.click("#send");
  await status("OK");
  results.quoteOutput = JSON.parse(await page.textContent("#output"));
  for (const kind of ["curl", "js", "mcp"]) {
    await page.click(`#copy-${kind}`);
    results[`quote_${kind}`] = await page.textContent("#copied");
  }
  // The JSON editor leads too: a second stop typed as JSON appears in the form.
  const edited = { ...results.quoteJson, stops: [...results.quoteJson.stops, { city: "Porto", nights: 2 }] };
  await page.fill("#input", JSON.stringify(edited));
  await page.dispatchEvent("#input", "change");
  results.secondStop = [await value("stops[1].city"), await value("stops[1].nights")];

  // A batch: two calls sent together, answered in order.
  await page.click("#show-batch");
  await open("demo/greet");
  await page.getByLabel(/^name/).fill("grace");
  await page.click("#add-to-batch");
  await open("demo/register");
  await page.getByLabel(/^name/).fill("admin");
  await page.click("#add-to-batch");
  await page.click("#run-batch");
  await page.waitForFunction(() => document.getElementById("batch-status").textContent.includes("answered"));
  results.batchStatus = await page.textContent("#batch-status");
  results.batchResults = await page.$$eval("#batch-results li", (items) => items.map((i) => i.textContent));
  await axe("batch");
  await shot("09-batch");

  // The page's own operation, called by hub-side code on the node (the test calls demo/ask).
  await page.click("#show-pages");
  await page.click("#page-op-form button[type=submit]");
  await page.waitForSelector('[data-registered="console/answer"]');
  console.log("registered");
  await page.waitForSelector(".incoming .call", { timeout: 20000 });
  results.incoming = JSON.parse(await page.textContent(".incoming .call pre"));
  await page.fill(".incoming .call textarea", JSON.stringify({ answer: 42 }));
  await page.getByRole("button", { name: "Answer", exact: true }).press("Enter");
  results.answered = await page.textContent(".incoming .call .state");
  await lines.next();
  await axe("page-operations");
  await shot("10-answered-the-hub");

  // The live metrics: calls per second and latency per operation, from the node's /metrics.
  await page.click("#show-metrics");
  await page.waitForSelector('#metrics tr[data-metrics="demo/greet"]');
  // Some traffic while it watches: greetings, a few seconds apart in all.
  await open("demo/greet");
  await page.getByLabel(/^name/).fill("lin");
  for (let i = 0; i < 12; i += 1) {
    await page.click("#send");
    await status("OK");
    await page.waitForTimeout(400);
  }
  await page.waitForFunction(() => Number(document.querySelector('#metrics tr[data-metrics="demo/greet"] td')?.textContent) > 0, null, { timeout: 15000 });
  await page.waitForFunction(() => document.querySelectorAll("#metrics svg path").length > 0, null, { timeout: 15000 });
  results.metricsRows = await page.$$eval("#metrics tbody tr", (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
  results.metricsChart = await page.$eval("#metrics svg", (svg) => svg.getAttribute("aria-label"));
  await axe("metrics");
  await shot("11-metrics");

  // The overview the README shows: the live metrics above an operation's form.
  await page.click("#show-batch");
  await page.click("#show-pages");
  await open("demo/quote");
  await page.setViewportSize({ width: 1280, height: 1100 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(shots, "12-overview.png") });

  // Every control on the page is reached by Tab alone: each one focused is marked, and no
  // visible, enabled control is left unmarked.
  const controls = "button, input, select, textarea, summary, a[href], [tabindex]:not([tabindex='-1'])";
  const count = await page.$$eval(controls, (all) => all.filter((el) => el.offsetParent !== null && !el.disabled).length);
  await page.evaluate(() => document.activeElement?.blur());
  for (let i = 0; i < count + 10; i += 1) {
    await page.keyboard.press("Tab");
    await page.evaluate(() => { if (document.activeElement) document.activeElement.dataset.reached = "yes"; });
  }
  results.controls = count;
  results.unreachable = await page.$$eval(controls, (all) => all
    .filter((el) => el.offsetParent !== null && !el.disabled && el.dataset.reached !== "yes")
    .map((el) => `${el.tagName.toLowerCase()}#${el.id} ${el.textContent.trim().slice(0, 40)}`));

  // Signing out forgets the token.
  await page.click("#sign-out");
  results.tokenAfterSignOut = await page.evaluate(() => sessionStorage.getItem("alknet.console.token"));
} catch (error) {
  results.failure = String(error?.stack ?? error);
} finally {
  console.log(JSON.stringify(results));
  reader.close();
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

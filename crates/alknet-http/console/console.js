// The alknet console: explore and call a node's operations as the signed-in caller, over
// the node's WebSocket session (/alknet/client.mjs). Everything from the node is put on the
// page as text (textContent), never as HTML: descriptions and schemas of imported operations
// come from documents nobody here vouched for.
import { connect } from "/alknet/client.mjs";
import { copies } from "/alknet/console/copy.js";
import { element, form, problems } from "/alknet/console/form.js";
import { metricsPanel } from "/alknet/console/metrics.js";
import { pagesPanel } from "/alknet/console/pages.js";

const TOKEN_KEY = "alknet.console.token";
/** The most calls one batch holds (the gateway's own cap may be lower). */
const MAX_BATCH = 50;
const $ = (id) => document.getElementById(id);
const state = { session: null, operations: [], spec: null, form: null, running: null, lastCall: null, batch: [] };

const slashed = (name) => `/${String(name).replace(/^\/+/, "")}`;
const pretty = (value) => JSON.stringify(value, null, 2);
const token = () => sessionStorage.getItem(TOKEN_KEY) ?? "";

const metrics = metricsPanel($("metrics-body"), token);
const pages = pagesPanel($("pages-body"), () => state.session);

// ---- signing in and out ----

async function signIn(secret) {
  $("sign-in-error").textContent = "";
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  try {
    state.session = await connect(`${scheme}://${location.host}/alknet/call`, { token: secret, reconnect: false });
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("sign-in-error").textContent = `Not signed in: ${error.code ?? ""} ${error.message ?? error}`.trim();
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, secret);
  $("token").value = "";
  $("sign-in").hidden = true;
  $("workspace").hidden = false;
  $("sign-out").hidden = false;
  await loadOperations();
  $("search").focus();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  metrics.stop();
  pages.reset();
  state.session?.close();
  state.session = null;
  $("workspace").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("who").textContent = "";
  $("token").focus();
}

// ---- the operations the caller may call ----

async function loadOperations() {
  const listed = await state.session.call("/services/list", {});
  state.operations = (Array.isArray(listed) ? listed : listed.operations ?? [])
    .slice()
    .sort((a, b) => String(a.name).localeCompare(String(b.name)));
  $("who").textContent = `${state.operations.length} operations you may call`;
  renderOperations();
}

function renderOperations() {
  const query = $("search").value.trim().toLowerCase();
  const shown = state.operations.filter((op) =>
    !query || `${op.name} ${op.description ?? ""}`.toLowerCase().includes(query));
  const groups = new Map();
  for (const op of shown) {
    const namespace = op.namespace || String(op.name).split("/").slice(0, -1).join("/") || "(root)";
    if (!groups.has(namespace)) groups.set(namespace, []);
    groups.get(namespace).push(op);
  }
  const list = $("operations");
  list.replaceChildren();
  for (const [namespace, ops] of groups) {
    const group = element("div", undefined, { class: "namespace" });
    group.append(element("h3", namespace));
    const items = element("ul");
    for (const op of ops) {
      const button = element("button", undefined, { type: "button", "data-operation": op.name });
      button.append(element("span", `${op.name} `), element("span", op.op_type, { class: "badge" }));
      if (op.description) button.append(element("span", op.description, { class: "summary" }));
      if (state.spec && state.spec.name === op.name) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => openOperation(op.name));
      const item = element("li");
      item.append(button);
      items.append(item);
    }
    group.append(items);
    list.append(group);
  }
  $("count").textContent = `${shown.length} of ${state.operations.length} shown`;
}

// ---- one operation ----

async function openOperation(name) {
  stopRunning();
  const spec = await state.session.call("/services/schema", { name });
  state.spec = spec;
  state.lastCall = null;
  $("operation").hidden = false;
  $("operation-title").textContent = spec.name;
  $("kind").textContent = spec.op_type;
  $("access").textContent = accessNeeds(spec.access_control);
  $("description").textContent = spec.description ?? "";
  const errors = $("errors");
  errors.replaceChildren();
  for (const declared of spec.error_schemas ?? []) {
    errors.append(element("li", `${declared.code}${declared.http_status ? ` (${declared.http_status})` : ""}: ${declared.description}`));
  }
  $("errors-box").hidden = errors.children.length === 0;
  $("send").textContent = spec.op_type === "subscription" ? "Subscribe" : "Call";
  $("add-to-batch").disabled = spec.op_type === "subscription";
  for (const id of ["copy-curl", "copy-js", "copy-mcp"]) $(id).disabled = true;
  for (const id of ["status", "output", "copied", "input-error"]) $(id).textContent = "";
  $("input").value = "";
  renderForm(undefined);
  $("input").value = pretty(state.form?.get() ?? {});
  renderOperations();
  $("operation-title").setAttribute("tabindex", "-1");
  $("operation-title").focus();
}

function accessNeeds(access) {
  const needs = [];
  if (access?.required_scopes?.length) needs.push(`scopes: ${access.required_scopes.join(", ")}`);
  if (access?.required_scopes_any) needs.push(`one of: ${access.required_scopes_any.join(", ")}`);
  if (access?.resource_type) needs.push(`resource: ${access.resource_type} ${access.resource_action ?? ""}`.trim());
  return needs.length ? `Needs ${needs.join("; ")}` : "Open to every caller";
}

/** The form from the input schema when it describes an object; anything else is edited as JSON. */
function renderForm(value) {
  const schema = state.spec?.input_schema ?? {};
  const fields = $("fields");
  const isObject = schema.type === "object" || (schema.properties && schema.type === undefined);
  const changed = () => {
    $("input").value = pretty(state.form.get() ?? {});
    $("input-error").textContent = "";
  };
  state.form = isObject ? form(schema, value, changed) : null;
  fields.replaceChildren(...(state.form ? [state.form.node] : [element("p", "This input is edited as JSON below.", { class: "muted" })]));
}

/** The JSON editor changed: the form follows it when it parses. */
function syncForm() {
  let input;
  try {
    input = JSON.parse($("input").value);
    $("input-error").textContent = "";
  } catch (error) {
    $("input-error").textContent = `The input is not JSON: ${error.message}`;
    return;
  }
  if (state.form) renderForm(input);
}

/** The input, checked against the schema before it is sent: [input, problem]. */
function validInput() {
  let input;
  try {
    input = JSON.parse($("input").value || "null");
  } catch (error) {
    return [undefined, `The input is not JSON: ${error.message}`];
  }
  const found = problems(state.spec?.input_schema ?? {}, input);
  return found.length ? [undefined, `${found.join("; ")}.`] : [input, ""];
}

// ---- calling ----

function showError(error) {
  const declared = (state.spec?.error_schemas ?? []).find((e) => e.code === error.code);
  $("status").textContent = `Error ${error.code ?? ""}${declared ? `: ${declared.description}` : ""}`;
  $("output").textContent = pretty({ code: error.code, message: error.message, details: error.details });
}

/** The checked input, or nothing (the problem is shown and the editor focused). */
function checkedInput() {
  const [input, problem] = validInput();
  $("input-error").textContent = problem;
  if (problem) $("input").focus();
  return problem ? undefined : input;
}

async function send(event) {
  event.preventDefault();
  const input = checkedInput();
  if (input === undefined) return;
  const spec = state.spec;
  state.lastCall = { operation: slashed(spec.name), input, subscription: spec.op_type === "subscription" };
  for (const id of ["copy-curl", "copy-js", "copy-mcp"]) $(id).disabled = false;
  $("copied").textContent = "";
  $("output").textContent = "";
  if (spec.op_type === "subscription") return subscribe(spec, input);
  $("status").textContent = "Calling…";
  const started = performance.now();
  try {
    const output = await state.session.call(slashed(spec.name), input);
    $("status").textContent = `OK in ${Math.round(performance.now() - started)} ms`;
    $("output").textContent = pretty(output);
  } catch (error) {
    showError(error);
  }
}

async function subscribe(spec, input) {
  const items = state.session.subscribe(slashed(spec.name), input);
  state.running = items;
  $("stop").hidden = false;
  $("send").disabled = true;
  let count = 0;
  $("status").textContent = "Subscribed: waiting for items…";
  try {
    for await (const item of items) {
      count += 1;
      $("output").textContent += `${JSON.stringify(item)}\n`;
      $("status").textContent = `${count} items`;
    }
    $("status").textContent = state.running === items ? `Completed after ${count} items` : `Stopped after ${count} items`;
  } catch (error) {
    showError(error);
  } finally {
    if (state.running === items) state.running = null;
    $("stop").hidden = true;
    $("send").disabled = false;
  }
}

function stopRunning() {
  const running = state.running;
  state.running = null;
  running?.return();
}

function copy(kind) {
  const call = state.lastCall;
  if (!call) return;
  const text = copies(call, location.origin)[kind];
  $("copied").textContent = text;
  navigator.clipboard?.writeText(text).catch(() => {});
}

// ---- batches: calls sent together to POST /batch, answered in order ----

function renderBatch() {
  const list = $("batch-list");
  list.replaceChildren();
  state.batch.forEach((call, i) => {
    const item = element("li");
    const remove = element("button", `Remove ${i + 1}`, { type: "button", class: "quiet" });
    remove.addEventListener("click", () => {
      state.batch.splice(i, 1);
      renderBatch();
      $("run-batch").focus();
    });
    item.append(element("code", `${call.operation} ${JSON.stringify(call.input)}`), remove);
    list.append(item);
  });
  $("batch-count").textContent = `${state.batch.length} call${state.batch.length === 1 ? "" : "s"} in the batch`;
  $("run-batch").disabled = state.batch.length === 0;
  $("clear-batch").disabled = state.batch.length === 0;
}

function addToBatch() {
  const input = checkedInput();
  if (input === undefined || !state.spec) return;
  if (state.batch.length >= MAX_BATCH) {
    $("input-error").textContent = `A batch holds at most ${MAX_BATCH} calls.`;
    return;
  }
  state.batch.push({ operation: slashed(state.spec.name), input });
  renderBatch();
}

async function runBatch() {
  const calls = state.batch.slice();
  const results = $("batch-results");
  results.replaceChildren();
  $("batch-status").textContent = `Sending ${calls.length} calls…`;
  let response;
  try {
    response = await fetch("/batch", {
      method: "POST",
      headers: { authorization: `Bearer ${token()}`, "content-type": "application/json" },
      body: JSON.stringify(calls),
    });
  } catch (error) {
    $("batch-status").textContent = `The batch was not sent: ${error.message}`;
    return;
  }
  const body = await response.json().catch(() => null);
  if (!response.ok || !Array.isArray(body)) {
    $("batch-status").textContent = `The batch was refused (HTTP ${response.status}): ${body?.message ?? ""}`;
    return;
  }
  const failed = body.filter((r) => r.error).length;
  $("batch-status").textContent = `${body.length} answered, ${failed} failed`;
  body.forEach((result, i) => {
    const item = element("li", undefined, { class: result.error ? "failed" : "ok" });
    const outcome = result.error ? `${result.error.code} (${result.status}): ${result.error.message}` : JSON.stringify(result.output);
    item.append(element("code", calls[i].operation), element("span", ` → ${outcome}`));
    results.append(item);
  });
}

// ---- this page's operations ----

function registerOperation(event) {
  event.preventDefault();
  const name = $("page-op-name").value.trim().replace(/^\/+/, "");
  if (!/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_.:-]+)+$/.test(name)) {
    $("page-op-error").textContent = "A name like console/answer: a namespace, a slash, a name.";
    $("page-op-name").focus();
    return;
  }
  $("page-op-error").textContent = "";
  pages.register(name, $("page-op-kind").value, "Answered by a person at the console");
  $("page-op-status").textContent = `Registered ${name}: the node may call it now (try demo/ask).`;
}

// ---- panels ----

function toggle(button, panel, onShow, onHide) {
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    $(panel).hidden = !open;
    if (open) onShow?.();
    else onHide?.();
  });
}

// ---- wiring ----

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("token").value);
});
$("sign-out").addEventListener("click", signOut);
$("search").addEventListener("input", renderOperations);
$("call-form").addEventListener("submit", send);
$("input").addEventListener("change", syncForm);
$("stop").addEventListener("click", stopRunning);
$("copy-curl").addEventListener("click", () => copy("curl"));
$("copy-js").addEventListener("click", () => copy("js"));
$("copy-mcp").addEventListener("click", () => copy("mcp"));
$("add-to-batch").addEventListener("click", addToBatch);
$("run-batch").addEventListener("click", runBatch);
$("clear-batch").addEventListener("click", () => { state.batch = []; renderBatch(); });
$("page-op-form").addEventListener("submit", registerOperation);
toggle($("show-metrics"), "metrics", () => metrics.start(), () => metrics.stop());
toggle($("show-pages"), "pages");
toggle($("show-batch"), "batch");
renderBatch();

const kept = sessionStorage.getItem(TOKEN_KEY);
if (kept) signIn(kept);
else $("token").focus();

// The alknet console: explore and call a node's operations as the signed-in caller, over
// the node's WebSocket session (/alknet/client.mjs). Everything from the node is put on the
// page as text (textContent), never as HTML: descriptions and schemas of imported operations
// come from documents nobody here vouched for.
import { connect } from "/alknet/client.mjs";

const TOKEN_KEY = "alknet.console.token";
const $ = (id) => document.getElementById(id);
const state = { session: null, operations: [], spec: null, running: null, lastCall: null };

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

const slashed = (name) => `/${String(name).replace(/^\/+/, "")}`;
const pretty = (value) => JSON.stringify(value, null, 2);

// ---- signing in and out ----

async function signIn(token) {
  $("sign-in-error").textContent = "";
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  try {
    state.session = await connect(`${scheme}://${location.host}/alknet/call`, { token, reconnect: false });
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("sign-in-error").textContent = `Not signed in: ${error.code ?? ""} ${error.message ?? error}`.trim();
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("token").value = "";
  $("sign-in").hidden = true;
  $("workspace").hidden = false;
  $("sign-out").hidden = false;
  await loadOperations();
  $("search").focus();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
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
  $("copy-curl").disabled = true;
  $("status").textContent = "";
  $("output").textContent = "";
  $("copied").textContent = "";
  $("input-error").textContent = "";
  renderFields(spec.input_schema ?? {});
  $("input").value = pretty(fromFields());
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

/** The input form: a field per top-level property of simple type; the rest is edited as JSON. */
function renderFields(schema) {
  const fieldset = $("fields");
  fieldset.replaceChildren(element("legend", "Input"));
  const properties = schema?.type === "object" || schema?.properties ? schema.properties ?? {} : {};
  const required = new Set(schema?.required ?? []);
  let count = 0;
  for (const [name, property] of Object.entries(properties)) {
    const type = Array.isArray(property?.type) ? property.type.find((t) => t !== "null") : property?.type;
    if (!property || !(property.enum || ["string", "integer", "number", "boolean"].includes(type))) continue;
    const id = `field-${count++}`;
    const label = element("label", `${name}${required.has(name) ? " (required)" : ""}`, { for: id });
    let input;
    if (property.enum) {
      input = element("select", undefined, { id });
      if (!required.has(name)) input.append(element("option", "", { value: "" }));
      for (const choice of property.enum) input.append(element("option", String(choice), { value: JSON.stringify(choice) }));
    } else if (type === "boolean") {
      input = element("input", undefined, { id, type: "checkbox" });
    } else {
      input = element("input", undefined, { id, type: type === "string" ? "text" : "number" });
      if (type === "integer") input.setAttribute("step", "1");
    }
    input.dataset.property = name;
    input.dataset.kind = property.enum ? "enum" : type;
    if (required.has(name)) input.required = true;
    if (property.description) input.setAttribute("aria-description", property.description);
    if (property.default !== undefined) setField(input, property.default);
    input.addEventListener("input", () => { $("input").value = pretty(fromFields()); });
    input.addEventListener("change", () => { $("input").value = pretty(fromFields()); });
    fieldset.append(label, input);
  }
  fieldset.classList.toggle("empty", count === 0);
}

function setField(input, value) {
  if (input.dataset.kind === "boolean") input.checked = Boolean(value);
  else if (input.dataset.kind === "enum") input.value = value === undefined ? "" : JSON.stringify(value);
  else input.value = value === undefined || value === null ? "" : String(value);
}

/** The JSON input the fields make, over what the JSON editor already holds. */
function fromFields() {
  let input = {};
  try {
    const edited = JSON.parse($("input").value || "{}");
    if (edited && typeof edited === "object" && !Array.isArray(edited)) input = edited;
  } catch { /* the fields win over an editor that does not parse */ }
  for (const field of $("fields").querySelectorAll("[data-property]")) {
    const name = field.dataset.property;
    const kind = field.dataset.kind;
    if (kind === "boolean") input[name] = field.checked;
    else if (field.value === "") delete input[name];
    else if (kind === "enum") input[name] = JSON.parse(field.value);
    else if (kind === "integer" || kind === "number") input[name] = Number(field.value);
    else input[name] = field.value;
  }
  return input;
}

function syncFields() {
  let input;
  try {
    input = JSON.parse($("input").value);
    $("input-error").textContent = "";
  } catch (error) {
    $("input-error").textContent = `The input is not JSON: ${error.message}`;
    return;
  }
  if (!input || typeof input !== "object") return;
  for (const field of $("fields").querySelectorAll("[data-property]")) setField(field, input[field.dataset.property]);
}

/** Checks the input before it is sent: JSON, an object when one is expected, required properties, simple types. */
function validInput() {
  let input;
  try {
    input = JSON.parse($("input").value || "null");
  } catch (error) {
    return [undefined, `The input is not JSON: ${error.message}`];
  }
  const schema = state.spec?.input_schema ?? {};
  if (schema.type === "object") {
    if (!input || typeof input !== "object" || Array.isArray(input)) return [undefined, "The input must be a JSON object."];
    const missing = (schema.required ?? []).filter((name) => !(name in input));
    if (missing.length) return [undefined, `Missing required: ${missing.join(", ")}.`];
    for (const [name, property] of Object.entries(schema.properties ?? {})) {
      if (!(name in input) || !property?.type) continue;
      const types = [].concat(property.type);
      const value = input[name];
      const actual = value === null ? "null" : Array.isArray(value) ? "array"
        : Number.isInteger(value) ? "integer" : typeof value;
      const fits = types.includes(actual) || (actual === "integer" && types.includes("number"));
      if (!fits) return [undefined, `${name} must be ${types.join(" or ")}.`];
    }
  }
  return [input, ""];
}

// ---- calling ----

function showError(error) {
  const declared = (state.spec?.error_schemas ?? []).find((e) => e.code === error.code);
  $("status").textContent = `Error ${error.code ?? ""}${declared ? `: ${declared.description}` : ""}`;
  $("output").textContent = pretty({ code: error.code, message: error.message, details: error.details });
}

async function send(event) {
  event.preventDefault();
  const [input, problem] = validInput();
  $("input-error").textContent = problem;
  if (problem) {
    $("input").focus();
    return;
  }
  const spec = state.spec;
  state.lastCall = { operation: slashed(spec.name), input, subscription: spec.op_type === "subscription" };
  $("copy-curl").disabled = false;
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

function copyCurl() {
  const call = state.lastCall;
  if (!call) return;
  const body = JSON.stringify({ operation: call.operation, input: call.input }).replaceAll("'", "'\\''");
  const path = call.subscription ? "subscribe" : "call";
  const line = `curl -s${call.subscription ? "N" : ""} ${location.origin}/${path} -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '${body}'`;
  $("copied").textContent = line;
  navigator.clipboard?.writeText(line).catch(() => {});
}

// ---- wiring ----

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("token").value);
});
$("sign-out").addEventListener("click", signOut);
$("search").addEventListener("input", renderOperations);
$("call-form").addEventListener("submit", send);
$("input").addEventListener("change", syncFields);
$("stop").addEventListener("click", stopRunning);
$("copy-curl").addEventListener("click", copyCurl);

const kept = sessionStorage.getItem(TOKEN_KEY);
if (kept) signIn(kept);
else $("token").focus();

// Forms from an operation's input JSON Schema — objects, nesting, arrays, enums, nullable,
// oneOf/anyOf — kept in step with a JSON value, and the checks made before a call is sent.
// Everything from the schema (names, descriptions, enum values) is set as text or as a
// control's value, never as HTML: schemas of imported operations come from documents nobody
// here vouched for.

/** Nesting past this is edited as JSON (a schema may be recursive). */
const MAX_DEPTH = 8;
let ids = 0;

/** An element with `text` as its text content and the attributes given. */
export function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const plain = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const shortText = (text) => String(text ?? "").replace(/\.$/, "").slice(0, 80);

/** `schema` with local `$ref`s followed (`#/$defs/…`, `#/components/schemas/…`). */
export function resolve(schema, root) {
  let resolved = schema ?? {};
  for (let hops = 0; typeof resolved.$ref === "string" && resolved.$ref.startsWith("#/") && hops < 16; hops += 1) {
    resolved = resolved.$ref.slice(2).split("/")
      .reduce((node, key) => node?.[key.replaceAll("~1", "/").replaceAll("~0", "~")], root) ?? {};
  }
  return resolved;
}

const typesOf = (schema) => (schema.type === undefined ? [] : [].concat(schema.type));
const isNullSchema = (schema, root) => same(typesOf(resolve(schema, root)), ["null"]);

/** Whether null is allowed, and the schema without it. */
function withoutNull(schema, root) {
  const resolved = resolve(schema, root);
  const types = typesOf(resolved);
  if (types.includes("null") && types.length > 1) {
    const rest = types.filter((t) => t !== "null");
    return { nullable: true, base: { ...resolved, type: rest.length === 1 ? rest[0] : rest } };
  }
  for (const key of ["anyOf", "oneOf"]) {
    const options = resolved[key];
    if (!Array.isArray(options) || !options.some((o) => isNullSchema(o, root))) continue;
    const rest = options.filter((o) => !isNullSchema(o, root));
    const base = rest.length === 1
      ? { description: resolved.description, ...resolve(rest[0], root) }
      : { ...resolved, [key]: rest };
    return { nullable: true, base };
  }
  if (resolved.nullable === true) return { nullable: true, base: { ...resolved, nullable: false } };
  return { nullable: false, base: resolved };
}

/** The values an enum-like schema allows (`enum`, or a oneOf/anyOf of `const`s), with labels. */
function choicesOf(schema, root) {
  if (Array.isArray(schema.enum)) return schema.enum.map((value) => ({ value, label: String(value) }));
  const options = schema.oneOf ?? schema.anyOf;
  if (Array.isArray(options) && options.length && options.every((o) => "const" in resolve(o, root))) {
    return options.map((o) => {
      const { const: value, description } = resolve(o, root);
      return { value, label: description ? `${value} — ${shortText(description)}` : String(value) };
    });
  }
  return null;
}

// ---- checking a value against a schema ----

function actualType(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

const where = (path) => path || "the input";

/**
 * What is wrong with `value` against `schema` (the common keywords: type, enum, const,
 * required, properties, additionalProperties, items, lengths, bounds, pattern, oneOf, anyOf,
 * allOf); at most `limit` messages, each naming where.
 */
export function problems(schema, value, root = schema, limit = 5) {
  const found = [];
  check(schema, value, root, "", found, 0);
  return found.slice(0, limit);
}

function check(schema, value, root, path, found, depth) {
  if (depth > 64 || found.length >= 8) return;
  const s = resolve(schema, root);
  if (value === null && s.nullable === true) return;
  if (Array.isArray(s.enum) && !s.enum.some((v) => same(v, value))) {
    found.push(`${where(path)}: must be one of ${s.enum.map((v) => JSON.stringify(v)).join(", ")}`);
    return;
  }
  if ("const" in s && !same(s.const, value)) {
    found.push(`${where(path)}: must be ${JSON.stringify(s.const)}`);
    return;
  }
  const types = typesOf(s);
  const actual = actualType(value);
  if (types.length && !types.includes(actual) && !(actual === "integer" && types.includes("number"))) {
    found.push(`${where(path)}: must be ${types.join(" or ")}`);
    return;
  }
  if (typeof value === "string") {
    const length = [...value].length;
    if (s.minLength !== undefined && length < s.minLength) found.push(`${where(path)}: at least ${s.minLength} characters`);
    if (s.maxLength !== undefined && length > s.maxLength) found.push(`${where(path)}: at most ${s.maxLength} characters`);
    if (typeof s.pattern === "string") {
      try {
        if (!new RegExp(s.pattern, "u").test(value)) found.push(`${where(path)}: must match ${s.pattern}`);
      } catch { /* a pattern this browser cannot read is left to the node */ }
    }
  }
  if (typeof value === "number") {
    if (s.minimum !== undefined && value < s.minimum) found.push(`${where(path)}: at least ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum) found.push(`${where(path)}: at most ${s.maximum}`);
    if (typeof s.exclusiveMinimum === "number" && value <= s.exclusiveMinimum) found.push(`${where(path)}: more than ${s.exclusiveMinimum}`);
    if (typeof s.exclusiveMaximum === "number" && value >= s.exclusiveMaximum) found.push(`${where(path)}: less than ${s.exclusiveMaximum}`);
  }
  if (plain(value)) {
    for (const name of s.required ?? []) {
      if (!(name in value)) found.push(`${path ? `${path}.` : ""}${name}: required`);
    }
    for (const [name, property] of Object.entries(s.properties ?? {})) {
      if (name in value) check(property, value[name], root, path ? `${path}.${name}` : name, found, depth + 1);
    }
    if (s.additionalProperties === false) {
      for (const name of Object.keys(value)) {
        if (!(name in (s.properties ?? {}))) found.push(`${where(path)}: unknown property ${name}`);
      }
    }
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems) found.push(`${where(path)}: at least ${s.minItems} items`);
    if (s.maxItems !== undefined && value.length > s.maxItems) found.push(`${where(path)}: at most ${s.maxItems} items`);
    if (plain(s.items)) value.forEach((item, i) => check(s.items, item, root, `${path}[${i}]`, found, depth + 1));
  }
  for (const key of ["oneOf", "anyOf"]) {
    if (!Array.isArray(s[key])) continue;
    const each = s[key].map((option) => {
      const inner = [];
      check(option, value, root, path, inner, depth + 1);
      return inner;
    });
    const fitting = each.filter((inner) => inner.length === 0).length;
    if (key === "oneOf" && fitting > 1) found.push(`${where(path)}: matches more than one of its forms`);
    // None fits: what is wrong with the closest form says the most.
    if (fitting === 0) found.push(...each.reduce((a, b) => (b.length < a.length ? b : a)));
  }
  for (const option of s.allOf ?? []) check(option, value, root, path, found, depth + 1);
}

// ---- the form ----

/**
 * A form for `schema` showing `value`; `changed()` is called on every edit. Returns
 * `{ node, get }`: `get()` is the value the form holds (`undefined` for nothing).
 */
export function form(schema, value, changed) {
  return editor({ schema, root: schema, value, label: "Input", path: "", required: true, depth: 0, changed });
}

function editor(field) {
  const { nullable, base } = withoutNull(field.schema, field.root);
  const inner = { ...field, schema: base };
  if (field.depth > MAX_DEPTH) return jsonEditor(inner);
  if (nullable) return nullableEditor(inner);
  const choices = choicesOf(base, field.root);
  if (choices) return choiceEditor(inner, choices);
  const options = base.oneOf ?? base.anyOf;
  if (Array.isArray(options) && options.length) return variantEditor(inner, options);
  const types = typesOf(base);
  const type = types.length === 1 ? types[0] : base.properties ? "object" : undefined;
  if (type === "object" && (base.properties || field.depth === 0)) return optional(inner, objectEditor);
  if (type === "array" && base.items) return optional(inner, arrayEditor);
  if (["string", "integer", "number"].includes(type)) return textEditor(inner, type);
  if (type === "boolean") return booleanEditor(inner);
  return jsonEditor(inner);
}

/** The label of a field: its name, `(required)`, and its description for assistive tech. */
function labelFor(field, id) {
  return element("label", `${field.label}${field.required && field.depth > 0 ? " (required)" : ""}`, { for: id });
}

function describe(control, field) {
  const description = field.schema.description;
  if (description) control.setAttribute("aria-description", shortText(description));
  control.dataset.path = field.path;
  control.dataset.property = field.label;
}

function row(...children) {
  const node = element("div", undefined, { class: "field" });
  node.append(...children);
  return node;
}

function textEditor(field, type) {
  const id = `f${++ids}`;
  const input = element("input", undefined, { id, type: type === "string" ? "text" : "number" });
  if (type === "integer") input.setAttribute("step", "1");
  if (type !== "string") input.setAttribute("inputmode", type === "integer" ? "numeric" : "decimal");
  const initial = field.value ?? field.schema.default;
  if (initial !== undefined && initial !== null) input.value = String(initial);
  if (field.required) input.required = true;
  describe(input, field);
  input.addEventListener("input", field.changed);
  return {
    node: row(labelFor(field, id), input),
    get() {
      if (input.value === "") return undefined;
      return type === "string" ? input.value : Number(input.value);
    },
  };
}

function booleanEditor(field) {
  const id = `f${++ids}`;
  const initial = field.value ?? field.schema.default;
  if (field.required) {
    const input = element("input", undefined, { id, type: "checkbox" });
    input.checked = initial === true;
    describe(input, field);
    input.addEventListener("change", field.changed);
    return { node: row(input, labelFor(field, id)), get: () => input.checked };
  }
  // An optional boolean may be absent: a choice of three.
  return choiceEditor(field, [{ value: true, label: "true" }, { value: false, label: "false" }]);
}

function choiceEditor(field, choices) {
  const id = `f${++ids}`;
  const select = element("select", undefined, { id });
  if (!field.required) select.append(element("option", "(none)", { value: "" }));
  choices.forEach((choice, i) => select.append(element("option", choice.label, { value: String(i) })));
  const initial = field.value ?? field.schema.default;
  const index = choices.findIndex((choice) => same(choice.value, initial));
  select.value = index >= 0 ? String(index) : field.required ? "0" : "";
  describe(select, field);
  select.addEventListener("change", field.changed);
  return {
    node: row(labelFor(field, id), select),
    get: () => (select.value === "" ? undefined : choices[Number(select.value)].value),
  };
}

/** Anything the form does not draw: its JSON, checked as it is typed. */
function jsonEditor(field) {
  const id = `f${++ids}`;
  const area = element("textarea", undefined, { id, rows: "3", spellcheck: "false", class: "json" });
  if (field.value !== undefined) area.value = JSON.stringify(field.value, null, 2);
  describe(area, field);
  const note = element("span", "JSON", { class: "muted" });
  area.addEventListener("input", () => {
    try {
      if (area.value.trim()) JSON.parse(area.value);
      note.textContent = "JSON";
      area.removeAttribute("aria-invalid");
    } catch {
      note.textContent = "not JSON yet";
      area.setAttribute("aria-invalid", "true");
    }
    field.changed();
  });
  return {
    node: row(labelFor(field, id), area, note),
    get() {
      try {
        return area.value.trim() ? JSON.parse(area.value) : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

function nullableEditor(field) {
  const id = `f${++ids}`;
  const toggle = element("input", undefined, { id, type: "checkbox" });
  toggle.checked = field.value === null;
  const inner = editor({ ...field, schema: field.schema, value: field.value ?? undefined, required: field.required });
  const box = element("div", undefined, { class: "nullable" });
  const set = () => {
    for (const control of inner.node.querySelectorAll("input, select, textarea, button")) control.disabled = toggle.checked;
  };
  toggle.addEventListener("change", () => { set(); field.changed(); });
  box.append(inner.node, row(toggle, element("label", `${field.label} is null`, { for: id })));
  set();
  return { node: box, get: () => (toggle.checked ? null : inner.get()) };
}

/** An optional object or array: absent until added. */
function optional(field, make) {
  if (field.required || field.depth === 0) return make(field);
  const box = element("div", undefined, { class: "optional" });
  let current = null;
  const add = element("button", `Add ${field.label}`, { type: "button" });
  const remove = element("button", `Remove ${field.label}`, { type: "button", class: "quiet" });
  const show = (value) => {
    box.replaceChildren();
    current = value === undefined ? null : make({ ...field, value });
    if (current) box.append(current.node, remove);
    else box.append(add);
  };
  add.addEventListener("click", () => {
    show(typesOf(field.schema).includes("array") ? [] : {});
    field.changed();
    box.querySelector("input, select, textarea, button")?.focus();
  });
  remove.addEventListener("click", () => { show(undefined); field.changed(); add.focus(); });
  show(field.value);
  return { node: box, get: () => current?.get() };
}

function objectEditor(field) {
  const set = element("fieldset", undefined, { class: field.depth ? "nested" : "" });
  set.append(element("legend", field.label));
  if (field.depth && field.schema.description) set.append(element("p", field.schema.description, { class: "muted" }));
  const required = new Set(field.schema.required ?? []);
  const value = plain(field.value) ? field.value : {};
  const known = field.schema.properties ?? {};
  // Required properties first, in the order the schema requires them (their declaration
  // order, where JSON maps lose it), then the others.
  const order = [...required].filter((name) => name in known)
    .concat(Object.keys(known).filter((name) => !required.has(name)));
  const parts = order.map((name) => [name, known[name]]).map(([name, schema]) => {
    const part = editor({
      schema, root: field.root, value: value[name], label: name,
      path: field.path ? `${field.path}.${name}` : name,
      required: required.has(name), depth: field.depth + 1, changed: field.changed,
    });
    set.append(part.node);
    return [name, part];
  });
  // Properties the schema does not name are kept as they are (the JSON editor shows them).
  const extra = Object.fromEntries(Object.entries(value).filter(([name]) => !(name in known)));
  return {
    node: set,
    get() {
      const out = { ...extra };
      for (const [name, part] of parts) {
        const v = part.get();
        if (v !== undefined) out[name] = v;
      }
      return out;
    },
  };
}

function arrayEditor(field) {
  const set = element("fieldset", undefined, { class: "nested" });
  set.append(element("legend", `${field.label} (list)`));
  const list = element("ol");
  const add = element("button", `Add to ${field.label}`, { type: "button" });
  const items = [];
  const renumber = () => items.forEach((item, i) => {
    item.remove.textContent = `Remove ${field.label} ${i + 1}`;
  });
  const push = (value) => {
    const index = items.length;
    const part = editor({
      schema: field.schema.items, root: field.root, value, label: `${field.label} ${index + 1}`,
      path: `${field.path}[${index}]`, required: true, depth: field.depth + 1, changed: field.changed,
    });
    const entry = element("li");
    const remove = element("button", "", { type: "button", class: "quiet" });
    const item = { part, entry, remove };
    remove.addEventListener("click", () => {
      items.splice(items.indexOf(item), 1);
      entry.remove();
      renumber();
      field.changed();
      add.focus();
    });
    entry.append(part.node, remove);
    list.append(entry);
    items.push(item);
    renumber();
    return entry;
  };
  (Array.isArray(field.value) ? field.value : []).forEach(push);
  add.addEventListener("click", () => {
    const entry = push(undefined);
    field.changed();
    entry.querySelector("input, select, textarea")?.focus();
  });
  set.append(list, add);
  return { node: set, get: () => items.map((item) => item.part.get()).map((v) => (v === undefined ? null : v)) };
}

/** oneOf/anyOf: choose the form, then fill it. */
function variantEditor(field, options) {
  const id = `f${++ids}`;
  const select = element("select", undefined, { id });
  const resolved = options.map((o) => resolve(o, field.root));
  resolved.forEach((option, i) => {
    const named = option.title ?? option.description ?? (option.required?.length ? option.required.join(", ") : typesOf(option).join(" or "));
    select.append(element("option", `${i + 1}: ${shortText(named) || "form"}`, { value: String(i) }));
  });
  // The form the value fits, or comes closest to (a half-filled one keeps what it has).
  let closest = 0;
  if (field.value !== undefined) {
    const misses = resolved.map((o) => problems(o, field.value, field.root, 100).length);
    closest = misses.indexOf(Math.min(...misses));
  }
  select.value = String(closest);
  describe(select, field);
  const box = element("div", undefined, { class: "variant" });
  let current;
  const show = (value) => {
    const option = resolved[Number(select.value)];
    current = editor({ ...field, schema: option, value, label: field.label, depth: field.depth + 1, required: true });
    box.replaceChildren(current.node);
  };
  select.addEventListener("change", () => { show(undefined); field.changed(); });
  show(field.value);
  const chooser = row(element("label", `${field.label}: which form`, { for: id }), select);
  const node = element("div", undefined, { class: "variants" });
  node.append(chooser, box);
  return { node, get: () => current.get() };
}

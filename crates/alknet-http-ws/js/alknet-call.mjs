// alknet-call.mjs — the alknet call protocol over WebSocket, for browsers and Node.
// One dependency-free ES module. Served by an alknet-http node at /alknet/client.mjs.
//
//   import { connect } from "/alknet/client.mjs";
//   const hub = await connect("wss://node.example/alknet/call", { token });
//   await hub.call("/demo/greet", { name: "ada" });
//   for await (const tick of hub.subscribe("/demo/ticks", { count: 3 })) console.log(tick);
//   hub.register({ name: "browser/confirm", op_type: "query" }, async (input) => confirm(input.text));
//
// Subscriptions are not re-issued after a reconnect: the iterator ends with an error and the
// application subscribes again when `onStatus` reports "open".

const PROTOCOL = "alknet.call.v1";
const BEARER_PREFIX = "alknet.bearer.";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A call error: branch on `code`, never on `message`. */
export class CallError extends Error {
  constructor({ code, message, retryable = false, details }) {
    super(message);
    this.name = "CallError";
    this.code = code;
    this.retryable = retryable;
    if (details !== undefined) this.details = details;
  }
  toJSON() {
    const json = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.details !== undefined) json.details = this.details;
    return json;
  }
}

const closed = () => new CallError({ code: "INTERNAL", message: "connection closed" });
const aborted = () => new CallError({ code: "INTERNAL", message: "call aborted" });

function base64url(text) {
  const bytes = encoder.encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function newId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const strip = (name) => (name.startsWith("/") ? name.slice(1) : name);
const wire = (name) => "/" + strip(name);

/**
 * Connects to an alknet node. Resolves once the socket is open; rejects with a CallError
 * `FORBIDDEN` when the node refuses the token (or there is none).
 */
export async function connect(url, options = {}) {
  const client = new Client(url, options);
  await client._open();
  return client;
}

class Client {
  constructor(url, { token, reconnect = true, initialBackoffMs = 250, maxBackoffMs = 10000, onStatus, WebSocket: WS } = {}) {
    this.url = url;
    this.token = token;
    this.reconnect = reconnect;
    this.initialBackoffMs = initialBackoffMs;
    this.maxBackoffMs = maxBackoffMs;
    this.onStatus = onStatus ?? (() => {});
    this.WS = WS ?? globalThis.WebSocket;
    this.pending = new Map(); // outgoing: id -> { resolve, reject } | { push, end }
    this.inflight = new Map(); // incoming: id -> AbortController
    this.ops = new Map(); // local operations: name -> { spec, handler }
    this.closedByUser = false;
    this.backoff = initialBackoffMs;
    this.ws = null;
  }

  get connected() {
    return this.ws?.readyState === 1;
  }

  _open() {
    return new Promise((resolve, reject) => {
      const protocols = [PROTOCOL];
      if (this.token) protocols.push(BEARER_PREFIX + base64url(this.token));
      let ws;
      try {
        ws = new this.WS(this.url, protocols);
      } catch (e) {
        reject(e);
        return;
      }
      ws.binaryType = "arraybuffer";
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this.ws = ws;
        this.backoff = this.initialBackoffMs;
        this.onStatus("open");
        resolve();
      };
      ws.onmessage = (event) => this._receive(event.data);
      ws.onclose = (event) => {
        if (!opened) {
          // A refused upgrade (401) surfaces as a close before open.
          reject(new CallError({ code: "FORBIDDEN", message: `connection refused (${event.code})` }));
          return;
        }
        this._disconnected(event.code);
      };
      ws.onerror = () => {};
    });
  }

  _disconnected(code) {
    this.ws = null;
    for (const entry of this.pending.values()) entry.fail(closed());
    this.pending.clear();
    for (const controller of this.inflight.values()) controller.abort();
    this.inflight.clear();
    this.onStatus("closed", code);
    if (!this.closedByUser && this.reconnect) this._retry();
  }

  _retry() {
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.maxBackoffMs);
    this.onStatus("reconnecting", delay);
    setTimeout(() => {
      if (this.closedByUser) return;
      this._open().catch(() => this._retry());
    }, delay);
  }

  _send(envelope) {
    if (!this.connected) throw closed();
    this.ws.send(encoder.encode(JSON.stringify(envelope)));
  }

  _receive(data) {
    let envelope;
    try {
      envelope = JSON.parse(typeof data === "string" ? data : decoder.decode(data));
    } catch {
      return;
    }
    const { type, id, payload = {} } = envelope;
    switch (type) {
      case "call.requested":
        this._serve(id, payload);
        break;
      case "call.aborted": {
        const controller = this.inflight.get(id);
        if (controller) {
          this.inflight.delete(id);
          controller.abort();
        } else {
          this.pending.get(id)?.end();
          this.pending.delete(id);
        }
        break;
      }
      case "call.responded":
        this.pending.get(id)?.item(payload.output);
        break;
      case "call.completed":
        this.pending.get(id)?.end();
        this.pending.delete(id);
        break;
      case "call.error":
        this.pending.get(id)?.fail(new CallError(payload));
        this.pending.delete(id);
        break;
      default:
        break; // unknown types are ignored
    }
  }

  /** Calls a query or mutation; rejects with a CallError. `signal` aborts it. */
  call(operation, input = null, { signal } = {}) {
    return new Promise((resolve, reject) => {
      const id = newId();
      const done = () => {
        this.pending.delete(id);
        signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = () => {
        if (!this.pending.has(id)) return;
        done();
        try {
          this._send({ type: "call.aborted", id, payload: {} });
        } catch {}
        reject(aborted());
      };
      if (signal?.aborted) return reject(aborted());
      this.pending.set(id, {
        item: (output) => {
          done();
          resolve(output);
        },
        end: () => {
          done();
          reject(new CallError({ code: "INTERNAL", message: "call aborted by the peer" }));
        },
        fail: (error) => {
          done();
          reject(error);
        },
      });
      signal?.addEventListener("abort", onAbort);
      try {
        this._send({ type: "call.requested", id, payload: { operationId: wire(operation), input } });
      } catch (e) {
        done();
        reject(e);
      }
    });
  }

  /**
   * Subscribes; an async iterator of outputs. It ends on completion, throws a CallError on
   * error; breaking out of the loop (or `signal`) sends `call.aborted`.
   */
  subscribe(operation, input = null, { signal } = {}) {
    const id = newId();
    const queue = [];
    let waiting = null;
    let finished = false;
    let failure = null;
    const wake = () => {
      if (waiting) {
        const w = waiting;
        waiting = null;
        w();
      }
    };
    const finish = (error) => {
      if (finished) return;
      finished = true;
      failure = error ?? null;
      this.pending.delete(id);
      wake();
    };
    const abort = () => {
      if (finished) return;
      finish();
      try {
        this._send({ type: "call.aborted", id, payload: {} });
      } catch {}
    };
    this.pending.set(id, {
      item: (output) => {
        queue.push(output);
        wake();
      },
      end: () => finish(),
      fail: (error) => finish(error),
    });
    signal?.addEventListener("abort", abort);
    try {
      this._send({ type: "call.requested", id, payload: { operationId: wire(operation), input } });
    } catch (e) {
      finish(e);
    }
    const iterator = {
      id,
      next: async () => {
        while (queue.length === 0 && !finished) await new Promise((r) => (waiting = r));
        if (queue.length > 0) return { value: queue.shift(), done: false };
        if (failure) {
          const error = failure;
          failure = null;
          throw error;
        }
        return { value: undefined, done: true };
      },
      return: async () => {
        abort();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
    return iterator;
  }

  /**
   * Registers a local operation the hub may call. `spec` follows the OperationSpec JSON form
   * (`name`, `op_type` = "query" | "mutation" | "subscription", schemas optional). A handler
   * gets `(input, { signal, requestId })`; subscriptions return an async iterable.
   */
  register(spec, handler) {
    const name = strip(spec.name);
    const full = {
      name,
      namespace: name.split("/")[0],
      op_type: spec.op_type ?? "query",
      visibility: "external",
      input_schema: spec.input_schema ?? {},
      output_schema: spec.output_schema ?? {},
      error_schemas: spec.error_schemas ?? [],
      access_control: spec.access_control ?? { required_scopes: [], required_scopes_any: null, resource_type: null, resource_action: null },
      resource_id_path: null,
    };
    if (spec.description) full.description = spec.description;
    this.ops.set(name, { spec: full, handler });
  }

  async _serve(id, { operationId, input = null }) {
    const name = strip(operationId ?? "");
    const reply = (output) => this._reply({ type: "call.responded", id, payload: { output } });
    const fail = (error) => {
      const e = error instanceof CallError ? error : new CallError({ code: "INTERNAL", message: String(error?.message ?? error) });
      this._reply({ type: "call.error", id, payload: e.toJSON() });
    };
    if (name === "services/list") {
      const operations = [...this.ops.values()].map(({ spec }) => {
        const entry = { name: spec.name, namespace: spec.namespace, op_type: spec.op_type };
        if (spec.description) entry.description = spec.description;
        return entry;
      });
      return reply({ operations });
    }
    if (name === "services/schema") {
      const op = this.ops.get(strip(input?.name ?? ""));
      return op ? reply(op.spec) : fail(new CallError({ code: "NOT_FOUND", message: `operation not found: /${strip(input?.name ?? "")}` }));
    }
    const op = this.ops.get(name);
    if (!op) return fail(new CallError({ code: "NOT_FOUND", message: `operation not found: /${name}` }));
    if (this.inflight.has(id)) return fail(new CallError({ code: "INVALID_INPUT", message: `request id ${id} is already in flight` }));
    const controller = new AbortController();
    this.inflight.set(id, controller);
    const ctx = { signal: controller.signal, requestId: id };
    try {
      if (op.spec.op_type === "subscription") {
        for await (const item of op.handler(input, ctx)) {
          if (controller.signal.aborted) return;
          reply(item);
        }
        if (!controller.signal.aborted) this._reply({ type: "call.completed", id, payload: {} });
      } else {
        const output = await op.handler(input, ctx);
        if (!controller.signal.aborted) reply(output);
      }
    } catch (error) {
      if (!controller.signal.aborted) fail(error);
    } finally {
      this.inflight.delete(id);
    }
  }

  _reply(envelope) {
    try {
      this._send(envelope);
    } catch {}
  }

  /** Closes the session for good (no reconnect). */
  close() {
    this.closedByUser = true;
    this.ws?.close(1000);
  }
}

// Types for alknet-call.mjs.

export interface CallErrorJson {
  code: string;
  message: string;
  retryable: boolean;
  details?: unknown;
}

export declare class CallError extends Error implements CallErrorJson {
  constructor(json: CallErrorJson);
  code: string;
  retryable: boolean;
  details?: unknown;
  toJSON(): CallErrorJson;
}

export interface ConnectOptions {
  /** Bearer token, sent as the `alknet.bearer.<base64url>` subprotocol. */
  token?: string;
  /** Reconnect with exponential backoff after an unexpected close (default true). */
  reconnect?: boolean;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** "open" | "closed" | "reconnecting". Subscriptions are re-issued by the application. */
  onStatus?: (status: "open" | "closed" | "reconnecting", detail?: number) => void;
  /** A WebSocket constructor (Node without a global WebSocket). */
  WebSocket?: typeof WebSocket;
}

export interface OperationSpecInput {
  name: string;
  op_type?: "query" | "mutation" | "subscription";
  description?: string;
  input_schema?: unknown;
  output_schema?: unknown;
  error_schemas?: unknown[];
  access_control?: unknown;
}

export interface HandlerContext {
  signal: AbortSignal;
  requestId: string;
}

export interface Subscription<T = unknown> extends AsyncIterableIterator<T> {
  readonly id: string;
}

/** One operation's types, as a node's `/alknet/types.d.ts` declares them. */
export interface OperationTypes {
  kind: "query" | "mutation" | "subscription";
  input: unknown;
  /** The output; a subscription's item. */
  output: unknown;
  /** The declared error codes (`never`: none). */
  errors: string;
}

/**
 * Operation name → its types. Without a generated map every name is allowed and untyped;
 * with one (`connect<Operations>(…)`), names, inputs and outputs are checked.
 */
export type OperationMap = { [operation: string]: OperationTypes };

/** The names a client may `call` (queries and mutations). */
export type CallableName<Ops extends OperationMap> = string extends keyof Ops
  ? string
  : { [K in keyof Ops]: Ops[K]["kind"] extends "subscription" ? never : K }[keyof Ops] & string;

/** The names a client may `subscribe` to. */
export type SubscribableName<Ops extends OperationMap> = string extends keyof Ops
  ? string
  : { [K in keyof Ops]: Ops[K]["kind"] extends "subscription" ? K : never }[keyof Ops] & string;

/** The arguments after the name: the input (optional when the input may be absent), options. */
export type CallArgs<Input> = undefined extends Input
  ? [input?: Input, options?: { signal?: AbortSignal }]
  : [input: Input, options?: { signal?: AbortSignal }];

export interface Client<Ops extends OperationMap = OperationMap> {
  readonly connected: boolean;
  call<K extends CallableName<Ops>>(operation: K, ...args: CallArgs<Ops[K]["input"]>): Promise<Ops[K]["output"]>;
  subscribe<K extends SubscribableName<Ops>>(
    operation: K,
    ...args: CallArgs<Ops[K]["input"]>
  ): Subscription<Ops[K]["output"]>;
  register(
    spec: OperationSpecInput,
    handler: (input: any, ctx: HandlerContext) => unknown | Promise<unknown> | AsyncIterable<unknown>,
  ): void;
  close(): void;
}

export declare function connect<Ops extends OperationMap = OperationMap>(
  url: string,
  options?: ConnectOptions,
): Promise<Client<Ops>>;

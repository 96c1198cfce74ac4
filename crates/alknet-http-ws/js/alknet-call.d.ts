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

export interface Client {
  readonly connected: boolean;
  call<T = unknown>(operation: string, input?: unknown, options?: { signal?: AbortSignal }): Promise<T>;
  subscribe<T = unknown>(operation: string, input?: unknown, options?: { signal?: AbortSignal }): Subscription<T>;
  register(
    spec: OperationSpecInput,
    handler: (input: any, ctx: HandlerContext) => unknown | Promise<unknown> | AsyncIterable<unknown>,
  ): void;
  close(): void;
}

export declare function connect(url: string, options?: ConnectOptions): Promise<Client>;

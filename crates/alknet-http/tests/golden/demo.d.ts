// The operations of an alknet-http node, as TypeScript types (generated).
// Use: `connect<Operations>(url, options)` from the node's /alknet/client.mjs.

/** Needs the demo:admin scope, which the dev token lacks */
export type DemoAdminInput = unknown;
export type DemoAdminOutput = { /** The caller's identity id. */ admin: (string) | (null); };

/** Returns its input unchanged */
export type DemoEchoInput = unknown;
export type DemoEchoOutput = unknown;

/** Greets someone, loudly (composes the Internal demo/shout) */
export type DemoGreetInput = { /** A name of 1 to 64 characters. */ name: string; };
export type DemoGreetOutput = { /** The greeting, shouted. */ greeting: string; };

/** Quotes a trip: a nested input with objects, arrays, an enum, a nullable note and a choice of payment */
export type DemoQuoteInput = { /** The class of travel. */ class: ("economy") | ("business"); /** A note for the agent, or null. */ note?: (string) | (null); /** How the trip is paid. */ payment: ({ card: { /** The card's last four digits. */ last4: string; }; }) | ({ invoice: { /** The company billed. */ company: string; }; }); /** Where, in order (at least one stop). */ stops: ({ /** The city. */ city: string; /** Nights there. */ nights: number; })[]; /** Who travels. */ traveller: { /** Their age, when it matters. */ age?: (number) | (null); /** Their name. */ name: string; }; };
export type DemoQuoteOutput = { /** How the total was made. */ summary: string; /** The total, in euros. */ total: number; };

/** Registers a name; `admin` is always taken */
export type DemoRegisterInput = { /** A name of 1 to 64 characters. */ name: string; };
export type DemoRegisterOutput = { /** The name now registered. */ registered: string; };

/** Ticks `count` times, every `interval_ms`; the last tick is terminal */
export type DemoTicksInput = ({ /** How many ticks (default 5). */ count?: number; /** Milliseconds between ticks (default 500). */ interval_ms?: number; }) | (null);
export type DemoTicksOutput = { /** Whether this is the last tick. */ terminal: boolean; /** 0, 1, 2, … */ tick: number; };

/** List the operations this caller may call */
export type ServicesListInput = unknown;
export type ServicesListOutput = unknown;

/** The full spec of one operation */
export type ServicesSchemaInput = { name: string; };
export type ServicesSchemaOutput = unknown;

/** Every operation of this file: its kind, input, output (a subscription's item) and declared error codes. */
export type Operations = {
  /** Needs the demo:admin scope, which the dev token lacks */
  "demo/admin": { kind: "query"; input: DemoAdminInput; output: DemoAdminOutput; errors: never; };
  /** Returns its input unchanged */
  "demo/echo": { kind: "query"; input: DemoEchoInput; output: DemoEchoOutput; errors: never; };
  /** Greets someone, loudly (composes the Internal demo/shout) */
  "demo/greet": { kind: "query"; input: DemoGreetInput; output: DemoGreetOutput; errors: never; };
  /** Quotes a trip: a nested input with objects, arrays, an enum, a nullable note and a choice of payment */
  "demo/quote": { kind: "query"; input: DemoQuoteInput; output: DemoQuoteOutput; errors: never; };
  /** Registers a name; `admin` is always taken */
  "demo/register": { kind: "mutation"; input: DemoRegisterInput; output: DemoRegisterOutput; errors: "NAME_TAKEN"; };
  /** Ticks `count` times, every `interval_ms`; the last tick is terminal */
  "demo/ticks": { kind: "subscription"; input: DemoTicksInput; output: DemoTicksOutput; errors: never; };
  /** List the operations this caller may call */
  "services/list": { kind: "query"; input: ServicesListInput; output: ServicesListOutput; errors: never; };
  /** The full spec of one operation */
  "services/schema": { kind: "query"; input: ServicesSchemaInput; output: ServicesSchemaOutput; errors: never; };
};

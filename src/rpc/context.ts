/**
 * What an RPC method is (a name, a declarative parameter list, a handler) and what it gets to run
 * (`CallContext`). Parameters are validated here, before any handler runs.
 */
import { z } from "zod";
import type { ChainView, RawJson } from "../view/index.ts";
import type { BlockEnv } from "./block.ts";
import type { CallCache } from "./callcache.ts";
import { invalidParams } from "./errors.ts";
import type { EvmApi } from "./evm.ts";
import type { FeeOracle } from "./fees.ts";
import { FAILED, fastValidator, type LogFilterParam } from "./schemas.ts";

/** One positional parameter: its name (for error messages) and its schema. */
export interface ParamSpec<T> {
  readonly name: string;
  readonly schema: z.ZodType<T>;
  readonly optional: boolean;
}

/** A required parameter. */
export function required<T>(name: string, schema: z.ZodType<T>): ParamSpec<T> {
  return { name, schema, optional: false };
}

/** An optional trailing parameter (absent → undefined). */
export function optional<T>(name: string, schema: z.ZodType<T>): ParamSpec<T | undefined> {
  return { name, schema, optional: true };
}

type Values<S extends readonly ParamSpec<unknown>[]> = {
  -readonly [K in keyof S]: S[K] extends ParamSpec<infer T> ? T : never;
};

/** A method's positional parameter list: a zod tuple plus the names and arity for messages. */
export interface Params<P extends readonly unknown[]> {
  readonly names: readonly string[];
  readonly min: number;
  readonly max: number;
  /** The parameters as one zod tuple (optional ones: absent or null → undefined). */
  readonly schema: z.ZodType<P>;
  /** Per position, a fast validator equivalent to the position's schema. */
  readonly validators: readonly ((v: unknown) => unknown)[];
}

/** Declares a method's positional parameters, in order; optional ones must come last. */
export function params<const S extends readonly ParamSpec<unknown>[]>(...specs: S): Params<Values<S>> {
  const items = specs.map((s) =>
    s.optional ? s.schema.nullish().transform((v) => v ?? undefined) : s.schema,
  );
  return {
    names: specs.map((s) => (s.optional ? `${s.name}?` : s.name)),
    min: specs.filter((s) => !s.optional).length,
    max: specs.length,
    schema: z.tuple(items as unknown as [z.ZodType]) as unknown as z.ZodType<Values<S>>,
    validators: specs.map((s) => {
      const v = fastValidator(s.schema);
      return s.optional ? (x: unknown) => (x === undefined || x === null ? undefined : v(x)) : v;
    }),
  };
}

// Messages for zod's built-in issues, phrased to follow "params[i] (name)".
function issueMessage(iss: z.core.$ZodRawIssue): string {
  switch (iss.code) {
    case "invalid_type":
      return `must be ${iss.expected === "array" ? "an array" : iss.expected === "object" ? "an object" : `a ${iss.expected}`}`;
    case "unrecognized_keys":
      return `has unknown field${iss.keys.length > 1 ? "s" : ""} ${iss.keys.join(", ")}`;
    case "too_big":
      return `must have at most ${iss.maximum} entries`;
    case "too_small":
      return `must have at least ${iss.minimum} entries`;
    default:
      return "is not valid";
  }
}

function pathSuffix(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : `.${String(p)}`;
  return out;
}

/**
 * Validates positional parameters against a method's declaration. Fails with RPC_INVALID_PARAMS
 * (-32602) and a message naming the parameter, e.g.
 * "invalid params: params[1] (block) must be a block number (hex) or a block tag …".
 */
export function parseParams<P extends readonly unknown[]>(p: Params<P>, raw: readonly unknown[]): P {
  if (raw.length < p.min || raw.length > p.max) {
    const expected = p.min === p.max ? `${p.max}` : `${p.min} to ${p.max}`;
    const names = p.names.length ? ` (${p.names.join(", ")})` : "";
    throw invalidParams(
      `invalid params: expected ${expected} param${p.max === 1 ? "" : "s"}${names}, got ${raw.length}`,
    );
  }
  // Fast path: each position's validator; zod words the error when one fails.
  const out = new Array(raw.length);
  let ok = true;
  for (let i = 0; i < raw.length; i++) {
    const v = (p.validators[i] as (v: unknown) => unknown)(raw[i]);
    if (v === FAILED) {
      ok = false;
      break;
    }
    out[i] = v;
  }
  if (ok) return out as unknown as P;
  const r = p.schema.safeParse(raw, { error: issueMessage });
  if (r.success) return r.data;
  const iss = r.error.issues[0];
  const [index, ...rest] = iss?.path ?? [];
  if (typeof index !== "number") throw invalidParams(`invalid params: ${iss?.message ?? "not valid"}`);
  const name = (p.names[index] ?? "param").replace(/\?$/, "");
  throw invalidParams(
    `invalid params: params[${index}] (${name})${pathSuffix(rest)} ${iss?.message ?? "is not valid"}`,
    {
      index,
    },
  );
}

/** eth_syncing's answer while not serving (https://ethereum.org/developers/docs/apis/json-rpc#eth_syncing). */
export interface SyncStatus {
  startingBlock: number;
  currentBlock: number;
  highestBlock: number;
}

/**
 * A reader's operator actions, behind the `admin` RPC methods (served only when the server runs
 * with `admin`). In RPC worker processes they are forwarded to the process that applies
 * blocks.
 */
export interface ReaderAdmin {
  /** Rewinds to `height` (kept) and re-applies from the store; resolves once unwound. */
  backtrack(height: number): Promise<{ from: number; to: number }>;
  /** Follows writer line `prefix`; resolves once reset (undefined: it already follows it). */
  switchPrefix(prefix: string): Promise<{ prefix: string; height: number } | undefined>;
  /** The replicator's status (applied height, writer tip, prefix, switch state, counters). */
  status(): Promise<unknown>;
}

/** What every method may use. */
export interface MethodEnv extends BlockEnv {
  readonly view: ChainView;
  readonly hasUpstream: boolean;
  readonly chainId: number;
  readonly clientVersion: string;
  /** Longest eth_getLogs range, in blocks. */
  readonly maxLogRange: number;
  /** Most logs one eth_getLogs may return; undefined for no limit. */
  readonly maxLogResults: number | undefined;
  readonly fees: FeeOracle;
  /** eth_call answers by block hash and request. */
  readonly callCache: CallCache;
  /** The EVM (src/evm), loaded on first use. */
  evm(): Promise<EvmApi>;
  /** Sync progress while the reader is not serving yet. */
  syncStatus(): SyncStatus | undefined;
  /** Wall-clock time, in ms since the epoch (anvil's pending block takes its timestamp from it). */
  now(): number;
  /** Operator actions, when the composition root provides them. */
  readonly admin: ReaderAdmin | undefined;
}

/** Subscriptions of one WebSocket connection (https://geth.ethereum.org/docs/interacting-with-geth/rpc/pubsub). */
export interface SubscriptionHost {
  /** Creates a subscription and returns its id. */
  subscribe(kind: "newHeads" | "logs", filter: LogFilterParam | undefined): string;
  /** Removes a subscription of this connection; false when there is none with this id. */
  unsubscribe(id: string): boolean;
}

/** What a handler gets besides its parameters. */
export interface CallContext {
  readonly env: MethodEnv;
  readonly method: string;
  /** The parameters as received, for forwarding the request verbatim. */
  readonly rawParams: readonly unknown[];
  /** The WebSocket connection, for subscriptions; undefined over HTTP. */
  readonly conn: SubscriptionHost | undefined;
  /** Sends this request to the upstream and returns its result (its error is thrown verbatim). */
  forward(): Promise<RawJson>;
}

/**
 * One RPC method. The handler returns a `RawJson` (spliced into the response as it is), any other
 * JSON value (serialised), or a promise of either.
 */
export interface MethodDef<P extends readonly unknown[] = readonly unknown[]> {
  readonly name: string;
  readonly params: Params<P>;
  /** Only over WebSocket (subscriptions); over HTTP the method does not exist. */
  readonly wsOnly?: boolean;
  /** Only when the server runs with `admin`. */
  readonly admin?: boolean;
  handler(params: P, ctx: CallContext): unknown;
}

/** Declares a method (keeps the parameter types between schema and handler). */
export function defineMethod<P extends readonly unknown[]>(def: MethodDef<P>): MethodDef<P> {
  return def;
}

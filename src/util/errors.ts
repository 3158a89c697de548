/**
 * Typed errors with codes. Every error chainkeep throws is a `ChainkeepError` carrying a stable
 * `code` and structured `meta`; tests assert on `code`, never on message text. Each component
 * declares its codes and its subclass in its own `errors.ts`; the codes here are the ones every
 * component may throw. The one mapping of codes to JSON-RPC errors is `rpc/errors.ts`.
 */

/** Base class of all chainkeep errors; throw a component's subclass. */
export abstract class ChainkeepError extends Error {
  readonly code: string;
  readonly meta: Record<string, unknown>;

  constructor(code: string, message: string, meta: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = "ChainkeepError";
    this.code = code;
    this.meta = meta;
  }
}

/**
 * Codes of any component: a broken invariant (a bug), options or configuration that cannot work
 * (`CONFIG_INVALID`, `CONFIG_MISSING`), and an argument of a call that is out of range.
 */
export type CommonErrorCode = "INTERNAL" | "CONFIG_INVALID" | "CONFIG_MISSING" | "INVALID_ARGUMENT";

/** An error with a {@link CommonErrorCode}. */
export class CommonError extends ChainkeepError {
  declare readonly code: CommonErrorCode;

  constructor(
    code: CommonErrorCode,
    message: string,
    meta: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(code, message, meta, options);
  }
}

/** True when `err` is a ChainkeepError with the given code. */
export function isErrorCode(err: unknown, code: string): err is ChainkeepError {
  return err instanceof ChainkeepError && err.code === code;
}

/** A printable message for anything thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

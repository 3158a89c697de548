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

/**
 * The error class of a component whose codes are `C`: a ChainkeepError subclass whose
 * constructor takes only those codes (`new StoreError("STORE_IO", message, meta)`).
 */
export function errorClass<C extends string>(name: string) {
  const cls = class extends ChainkeepError {
    declare readonly code: C;

    constructor(code: C, message: string, meta: Record<string, unknown> = {}, options?: ErrorOptions) {
      super(code, message, meta, options);
    }
  };
  Object.defineProperty(cls, "name", { value: name });
  return cls;
}

/** An error with a {@link CommonErrorCode}. */
export const CommonError = errorClass<CommonErrorCode>("CommonError");
export type CommonError = InstanceType<typeof CommonError>;

/** True when `err` is a ChainkeepError with the given code. */
export function isErrorCode(err: unknown, code: string): err is ChainkeepError {
  return err instanceof ChainkeepError && err.code === code;
}

/** A printable message for anything thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

import { errorClass } from "../util/errors.ts";

/**
 * Upstream codes: a JSON-RPC call that failed (transport or an error answer), a method the
 * upstream does not have, a block it does not have (yet).
 */
export type UpstreamErrorCode = "UPSTREAM_RPC" | "UPSTREAM_UNSUPPORTED" | "UPSTREAM_NO_BLOCK";

/** An error with a {@link UpstreamErrorCode}. */
export const UpstreamError = errorClass<UpstreamErrorCode>("UpstreamError");
export type UpstreamError = InstanceType<typeof UpstreamError>;

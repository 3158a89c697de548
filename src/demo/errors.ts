import { errorClass } from "../util/errors.ts";

/**
 * Codes of the demo's traffic generator: a node that does not answer, a transaction that failed,
 * one that was not mined in time.
 */
export type TrafficErrorCode = "TRAFFIC_RPC" | "TRAFFIC_TX_FAILED" | "TRAFFIC_TIMEOUT";

/** An error with a {@link TrafficErrorCode}. */
export const TrafficError = errorClass<TrafficErrorCode>("TrafficError");
export type TrafficError = InstanceType<typeof TrafficError>;

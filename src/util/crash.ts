/**
 * Test-only crash points. With `CHAINKEEP_TEST_CRASH_AT=<point>:<n>` in the environment, the
 * process kills itself with SIGKILL (as `kill -9` would) the n-th time it passes `crashPoint(point)`.
 * End-to-end tests use it to stop a reader at a precise place inside an unwind; without the
 * variable a crash point costs one comparison.
 */

/** Environment variable naming the crash point and the pass that kills: `point:n`. */
export const CRASH_AT_ENV = "CHAINKEEP_TEST_CRASH_AT";

const spec = /^([a-z-]+):(\d+)$/.exec(process.env[CRASH_AT_ENV] ?? "");
const target = spec?.[1];
let remaining = Number(spec?.[2] ?? 0);

/**
 * A named place where a test may kill the process: `unwind` (after each block unwound, inside
 * the transaction), `reorg-apply` (after each block a reorg applied, inside the transaction),
 * `unwind-step` (after each committed step of a bounded unwind: backtrack, switch),
 * `snapshot-upload` (after each part of a snapshot an archiver uploaded), `recover-put` (after
 * each object `recover store` wrote).
 */
export function crashPoint(point: string): void {
  if (target === undefined || point !== target) return;
  if (--remaining > 0) return;
  process.kill(process.pid, "SIGKILL");
}

import { type OptionValues, option } from "../util/options.ts";

/** Options of the staged sync. */
export const syncOptions = {
  history: option.choice(["full", "archive"], {
    description: "state history of a new database: full (the last --history-blocks) | archive (every height)",
    default: "full",
  }),
  historyBlocks: option.int({ description: "blocks of state history in full mode", min: 1, default: 128 }),
  snapshots: option.bool({
    description: "restore the newest snapshot when the database is new (false: from the chain's start)",
    arg: "<bool>",
    default: true,
  }),
  segments: option.bool({
    description: "backfill from segments (false: apply every per-block bundle)",
    arg: "<bool>",
    default: true,
  }),
  liveLag: option.int({ description: "LIVE within this many blocks of the writer's head", default: 2 }),
  fallBehind: option.int({
    description: "a LIVE reader this many blocks behind goes back to HEAD",
    min: 1,
    default: 256,
  }),
  backfillBatch: option.int({
    description: "blocks per BACKFILL read and database transaction",
    min: 1,
    default: 256,
  }),
  verifyStateRoot: option.bool({
    description:
      "recompute a restored snapshot's state root from its chunks before serving (the manifest's root is always checked against the header)",
    default: false,
  }),
  chunkConcurrency: option.int({
    description: "snapshot chunks downloaded in parallel in CHECKPOINT",
    min: 1,
    default: 4,
  }),
  syncStepDelay: option.int({
    description: "pause after each sync step, in ms (tests)",
    arg: "<ms>",
    hidden: true,
  }),
};

/** The staged sync's settings. */
export type SyncerOptions = OptionValues<typeof syncOptions>;

/** Where sync progress goes: bars on a terminal, log lines, or nowhere. */
export const PROGRESS_MODES = ["tty", "log", "off"] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/** How a reader shows its sync progress. */
export const progressOptions = {
  progress: option.choice(PROGRESS_MODES, {
    description: "sync progress: tty (bars) | log | off",
    default: process.stderr.isTTY ? "tty" : "log",
    defaultText: "tty on a terminal, else log",
  }),
};

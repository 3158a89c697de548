/** The `chainkeep pack` and `chainkeep snapshot …` subcommands (segments and snapshots). */
import type { Command } from "commander";
import type { ArchivingOptions } from "../archive/index.ts";
import {
  type ClusterConfig,
  type FileExtras,
  loadConfig,
  storeSpecFrom,
  writerFileSettings,
} from "../config/index.ts";
import { type ArchiveLine, openArchiveLine } from "../node/index.ts";
import type { Logger } from "../util/logger.ts";
import {
  addFlags,
  bool,
  CONFIG_FLAGS,
  type Flag,
  givenOutsideFile,
  int,
  resolveFlags,
  STORE_FLAGS,
} from "./flags.ts";

/** What the archiving loop takes (`pack --watch`, `writer --pack`), from flags, env or the file. */
export const ARCHIVING_FLAGS: Flag[] = [
  { flags: "--segment-blocks <n>", description: "blocks per segment", parse: int, default: 8192 },
  {
    flags: "--retain-blocks <n>",
    description: "delete per-block bundles this far below the tip once packed",
    parse: int,
    defaultText: "keep",
  },
  {
    flags: "--snapshot-every <n>",
    description: "take a snapshot every n finalized blocks",
    parse: int,
    defaultText: "never",
  },
  {
    flags: "--snapshot-keep <n>",
    description: "snapshots kept by the retention rule",
    parse: int,
    default: 2,
  },
  {
    flags: "--pack-interval <ms>",
    description: "pause between packing passes, in ms",
    parse: int,
    default: 10_000,
  },
];

/** The writer's switch for the archiving loop. */
export const PACK_FLAG: Flag = {
  flags: "--pack [bool]",
  description: "also pack segments, apply bundle retention and take scheduled snapshots",
  parse: bool,
  default: false,
};

/** The archiving loop's options from resolved settings. */
export function archivingFrom(v: Record<string, unknown>): ArchivingOptions {
  return {
    segmentBlocks: v.segmentBlocks as number,
    retainBlocks: v.retainBlocks as number | undefined,
    snapshotEvery: v.snapshotEvery as number | undefined,
    snapshotKeep: v.snapshotKeep as number,
    intervalMs: v.packInterval as number,
  };
}

/** Which writer line of which chain a command works on. */
const LINE_FLAGS: Flag[] = [
  ...STORE_FLAGS,
  { flags: "--prefix <name>", description: "writer line prefix", default: "primary" },
  {
    flags: "--chain-id <id>",
    description: "chain id",
    parse: int,
    defaultText: "the only chain under the prefix",
  },
];

/**
 * Adds the store, line and configuration flags (and `extra`) to `cmd`; the returned function
 * resolves them (flag > env > the file's writer entry > default) and opens the chain's line.
 */
function lineCommand(
  cmd: Command,
  extra: Flag[],
  logger: () => Logger,
): (o: Record<string, unknown>) => Promise<{ line: ArchiveLine; v: Record<string, unknown> }> {
  const flags = [...LINE_FLAGS, ...extra];
  addFlags(cmd, [...CONFIG_FLAGS, ...flags]);
  return async (o) => {
    const cfg: ClusterConfig | undefined =
      typeof o.config === "string" && o.config !== "" ? loadConfig(o.config) : undefined;
    const file = cfg
      ? writerFileSettings(cfg, {
          node: o.node as string | undefined,
          chainId: givenOutsideFile(cmd, "chainId") ? (o.chainId as number) : undefined,
        })
      : { values: {}, extras: {} as FileExtras };
    const { values: v } = resolveFlags(cmd, flags, file.values);
    const line = await openArchiveLine(
      {
        store: storeSpecFrom(v, file.extras),
        prefix: v.prefix as string,
        chainId: v.chainId as number | undefined,
      },
      { logger: logger() },
    );
    return { line, v };
  };
}

/** Registers `pack` and `snapshot` on the program. */
export function registerArchiveCommands(
  program: Command,
  deps: { logger: () => Logger; onShutdown: (close: () => Promise<void>) => void },
): void {
  const pack = program
    .command("pack")
    .description("pack finalized blocks into segments (and take scheduled snapshots)");
  const openPack = lineCommand(
    pack,
    [
      ...ARCHIVING_FLAGS,
      { flags: "--watch [bool]", description: "keep packing as the chain grows", parse: bool },
    ],
    deps.logger,
  );
  pack.action(async (o) => {
    const { line, v } = await openPack(o);
    if (v.watch === true) {
      const loop = line.watch(archivingFrom(v));
      deps.onShutdown(async () => {
        await loop.close();
        await line.close();
      });
      return;
    }
    const r = await line.packOnce({
      segmentBlocks: v.segmentBlocks as number,
      retainBlocks: v.retainBlocks as number | undefined,
    });
    console.log(JSON.stringify(r));
    await line.close();
  });

  const snap = program.command("snapshot").description("state snapshots at finalized heights");

  const create = snap.command("create").description("write the full state at a finalized height");
  const openCreate = lineCommand(
    create,
    [
      { flags: "--height <n>", description: "height", parse: int, defaultText: "the newest finalized one" },
      {
        flags: "--chunk-entries <n>",
        description: "accounts plus storage slots per chunk",
        parse: int,
        default: 50_000,
      },
      { flags: "--keep <n>", description: "then retire all but the newest n snapshots", parse: int },
    ],
    deps.logger,
  );
  create.action(async (o) => {
    const { line, v } = await openCreate(o);
    const { manifest: m, retired } = await line.createSnapshot({
      height: v.height as number | undefined,
      chunkEntries: v.chunkEntries as number,
      keep: v.keep as number | undefined,
    });
    console.log(JSON.stringify({ height: m.height, chunks: m.chunks.length, ...m.totals, retired }));
    await line.close();
  });

  const list = snap.command("list").description("list snapshots (and segments)");
  const openList = lineCommand(list, [], deps.logger);
  list.action(async (o) => {
    const { line } = await openList(o);
    const { snapshots, segments } = await line.list();
    for (const m of snapshots) {
      console.log(
        `snapshot ${m.height} block ${m.blockHash} chunks ${m.chunks.length} accounts ${m.totals.accounts} ` +
          `slots ${m.totals.slots} bytes ${m.totals.bytes} created ${new Date(m.createdTs).toISOString()}`,
      );
    }
    for (const s of segments) console.log(`segment ${s.from}-${s.to}`);
    await line.close();
  });

  const verify = snap
    .command("verify")
    .description("verify a snapshot's chunks, block and values (and the segments)");
  const openVerify = lineCommand(
    verify,
    [
      { flags: "--height <n>", description: "snapshot height", parse: int, defaultText: "every snapshot" },
      {
        flags: "--check-blocks <n>",
        description: "cross-check with the diffs of this many blocks before the height",
        parse: int,
        default: 64,
      },
      { flags: "--segments [bool]", description: "verify every segment too", parse: bool },
    ],
    deps.logger,
  );
  verify.action(async (o) => {
    const { line, v } = await openVerify(o);
    const checks = await line.verify({
      height: v.height as number | undefined,
      checkBlocks: v.checkBlocks as number,
      segments: v.segments === true,
    });
    for (const c of checks) console.log(JSON.stringify(c));
    process.exitCode = checks.some((c) => !c.ok) ? 1 : 0;
    await line.close();
  });

  const retire = snap.command("retire").description("delete all but the newest snapshots");
  const openRetire = lineCommand(
    retire,
    [{ flags: "--keep <n>", description: "snapshots kept", parse: int, default: 2 }],
    deps.logger,
  );
  retire.action(async (o) => {
    const { line, v } = await openRetire(o);
    console.log(JSON.stringify({ retired: await line.retire(v.keep as number) }));
    await line.close();
  });
}

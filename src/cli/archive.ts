/** The `chainkeep pack` and `chainkeep snapshot …` subcommands (segments and snapshots). */
import type { Command } from "commander";
import {
  createSnapshot,
  listSegments,
  listSnapshots,
  Packer,
  readManifest,
  retireSnapshots,
  startArchiving,
  verifySegment,
  verifySnapshot,
} from "../archive/index.ts";
import {
  type ClusterConfig,
  type FileExtras,
  loadConfig,
  storeSpecFrom,
  writerFileSettings,
} from "../config/index.ts";
import { ChainStore, type ObjectStore, onlyChainId, openStore } from "../store/index.ts";
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

/** The only chain id under `prefix/` (or `given`). */
export async function chainIdOf(store: ObjectStore, prefix: string, given?: number): Promise<number> {
  return given ?? onlyChainId(store, prefix);
}

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

/** Starts the archiving loop from resolved settings. */
export function archivingFrom(v: Record<string, unknown>, chain: ChainStore, logger: Logger) {
  return startArchiving(
    {
      segmentBlocks: v.segmentBlocks as number,
      retainBlocks: v.retainBlocks as number | undefined,
      snapshotEvery: v.snapshotEvery as number | undefined,
      snapshotKeep: v.snapshotKeep as number,
      intervalMs: v.packInterval as number,
    },
    { chain, logger },
  );
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
): (
  o: Record<string, unknown>,
) => Promise<{ chain: ChainStore; v: Record<string, unknown>; close(): Promise<void> }> {
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
    const store = openStore(storeSpecFrom(v, file.extras), { logger: logger() });
    const prefix = v.prefix as string;
    const chainId = await chainIdOf(store, prefix, v.chainId as number | undefined);
    return { chain: new ChainStore(store, prefix, chainId), v, close: () => store.close() };
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
    const logger = deps.logger();
    const { chain, v, close } = await openPack(o);
    if (v.watch === true) {
      const loop = archivingFrom(v, chain, logger);
      deps.onShutdown(async () => {
        await loop.close();
        await close();
      });
      return;
    }
    const r = await new Packer(
      { segmentBlocks: v.segmentBlocks as number, retainBlocks: v.retainBlocks as number | undefined },
      { chain, logger },
    ).packOnce();
    console.log(JSON.stringify(r));
    await close();
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
    const { chain, v, close } = await openCreate(o);
    const m = await createSnapshot(
      chain,
      { height: v.height as number | undefined, chunkEntries: v.chunkEntries as number },
      { logger: deps.logger() },
    );
    const retired = v.keep !== undefined ? await retireSnapshots(chain, v.keep as number) : [];
    console.log(JSON.stringify({ height: m.height, chunks: m.chunks.length, ...m.totals, retired }));
    await close();
  });

  const list = snap.command("list").description("list snapshots (and segments)");
  const openList = lineCommand(list, [], deps.logger);
  list.action(async (o) => {
    const { chain, close } = await openList(o);
    for (const s of await listSnapshots(chain)) {
      const m = await readManifest(chain, s);
      console.log(
        `snapshot ${m.height} block ${m.blockHash} chunks ${m.chunks.length} accounts ${m.totals.accounts} ` +
          `slots ${m.totals.slots} bytes ${m.totals.bytes} created ${new Date(m.createdTs).toISOString()}`,
      );
    }
    for (const s of await listSegments(chain)) console.log(`segment ${s.from}-${s.to}`);
    await close();
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
    const { chain, v, close } = await openVerify(o);
    let bad = 0;
    for (const s of await listSnapshots(chain)) {
      if (v.height !== undefined && s.height !== v.height) continue;
      try {
        const checked = await verifySnapshot(chain, s, { checkBlocks: v.checkBlocks as number });
        console.log(JSON.stringify({ ok: true, ...checked }));
      } catch (err) {
        bad++;
        console.log(JSON.stringify({ ok: false, height: s.height, error: (err as Error).message }));
      }
    }
    if (v.segments === true) {
      for (const s of await listSegments(chain)) {
        try {
          await verifySegment(chain, s);
          console.log(JSON.stringify({ ok: true, segment: `${s.from}-${s.to}` }));
        } catch (err) {
          bad++;
          console.log(
            JSON.stringify({ ok: false, segment: `${s.from}-${s.to}`, error: (err as Error).message }),
          );
        }
      }
    }
    process.exitCode = bad ? 1 : 0;
    await close();
  });

  const retire = snap.command("retire").description("delete all but the newest snapshots");
  const openRetire = lineCommand(
    retire,
    [{ flags: "--keep <n>", description: "snapshots kept", parse: int, default: 2 }],
    deps.logger,
  );
  retire.action(async (o) => {
    const { chain, v, close } = await openRetire(o);
    console.log(JSON.stringify({ retired: await retireSnapshots(chain, v.keep as number) }));
    await close();
  });
}

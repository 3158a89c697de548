/** The `chainkeep pack` and `chainkeep snapshot …` subcommands (segments and snapshots). */
import type { Command } from "commander";
import { listSegments, Packer, verifySegment } from "../pack/index.ts";
import {
  createSnapshot,
  listSnapshots,
  readManifest,
  retireSnapshots,
  startArchiving,
  verifySnapshot,
} from "../snapshot/index.ts";
import { ChainStore, FsStore, type ObjectStore } from "../store/index.ts";
import { ChainkeepError } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";

/** The only chain id under `prefix/` (or `given`). */
export async function chainIdOf(store: ObjectStore, prefix: string, given?: number): Promise<number> {
  if (given !== undefined) return given;
  const ids = new Set<number>();
  for (const k of await store.list(`${prefix}/`)) {
    const m = /^[^/]+\/(\d+)\/meta\.json$/.exec(k);
    if (m) ids.add(Number(m[1]));
  }
  if (ids.size !== 1) {
    throw new ChainkeepError("CONFIG_INVALID", `${ids.size} chains under ${prefix}: pass --chain-id`, {
      chains: [...ids],
    });
  }
  return [...ids][0] as number;
}

async function openChain(o: { store: string; prefix: string; chainId?: number }): Promise<ChainStore> {
  const store = new FsStore({ dir: o.store });
  return new ChainStore(store, o.prefix, await chainIdOf(store, o.prefix, o.chainId));
}

/** Options the archiving loop takes on the command line (`pack --watch`, `writer --pack`). */
export function addArchivingOptions(cmd: Command, int: (v: string) => number): Command {
  return cmd
    .option("--segment-blocks <n>", "blocks per segment", int, 8192)
    .option(
      "--retain-blocks <n>",
      "delete per-block bundles this far below the tip once packed (default: keep)",
      int,
    )
    .option("--snapshot-every <n>", "take a snapshot every n finalized blocks (default: never)", int)
    .option("--snapshot-keep <n>", "snapshots kept by the retention rule", int, 2)
    .option("--pack-interval <ms>", "pause between packing passes, in ms", int, 10_000);
}

/** Starts the archiving loop from parsed options. */
export function archivingFrom(o: Record<string, unknown>, chain: ChainStore, logger: Logger) {
  return startArchiving(
    {
      segmentBlocks: o.segmentBlocks as number,
      retainBlocks: o.retainBlocks as number | undefined,
      snapshotEvery: o.snapshotEvery as number | undefined,
      snapshotKeep: o.snapshotKeep as number,
      intervalMs: o.packInterval as number,
    },
    { chain, logger },
  );
}

/** Registers `pack` and `snapshot` on the program. */
export function registerArchiveCommands(
  program: Command,
  deps: {
    int: (v: string) => number;
    logger: () => Logger;
    onShutdown: (close: () => Promise<void>) => void;
  },
): void {
  const { int } = deps;
  const common = (cmd: Command) =>
    cmd
      .requiredOption("--store <dir>", "object-store directory")
      .option("--prefix <name>", "writer line prefix", "primary")
      .option("--chain-id <id>", "chain id (default: the only chain under the prefix)", int);

  addArchivingOptions(
    common(
      program
        .command("pack")
        .description("pack finalized blocks into segments (and take scheduled snapshots)"),
    ),
    int,
  )
    .option("--watch", "keep packing as the chain grows")
    .action(async (o) => {
      const logger = deps.logger();
      const chain = await openChain(o);
      if (o.watch) {
        const loop = archivingFrom(o, chain, logger);
        deps.onShutdown(() => loop.close());
        return;
      }
      const r = await new Packer(
        { segmentBlocks: o.segmentBlocks, retainBlocks: o.retainBlocks },
        { chain, logger },
      ).packOnce();
      console.log(JSON.stringify(r));
    });

  const snap = program.command("snapshot").description("state snapshots at finalized heights");
  common(snap.command("create").description("write the full state at a finalized height"))
    .option("--height <n>", "height (default: the newest finalized one)", int)
    .option("--chunk-entries <n>", "accounts plus storage slots per chunk", int, 50_000)
    .option("--keep <n>", "then retire all but the newest n snapshots", int)
    .action(async (o) => {
      const chain = await openChain(o);
      const m = await createSnapshot(
        chain,
        { height: o.height, chunkEntries: o.chunkEntries },
        { logger: deps.logger() },
      );
      const retired = o.keep !== undefined ? await retireSnapshots(chain, o.keep) : [];
      console.log(JSON.stringify({ height: m.height, chunks: m.chunks.length, ...m.totals, retired }));
    });
  common(snap.command("list").description("list snapshots (and segments)")).action(async (o) => {
    const chain = await openChain(o);
    for (const s of await listSnapshots(chain)) {
      const m = await readManifest(chain, s);
      console.log(
        `snapshot ${m.height} block ${m.blockHash} chunks ${m.chunks.length} accounts ${m.totals.accounts} ` +
          `slots ${m.totals.slots} bytes ${m.totals.bytes} created ${new Date(m.createdTs).toISOString()}`,
      );
    }
    for (const s of await listSegments(chain)) console.log(`segment ${s.from}-${s.to}`);
  });
  common(
    snap.command("verify").description("verify a snapshot's chunks, block and values (and the segments)"),
  )
    .option("--height <n>", "snapshot height (default: every snapshot)", int)
    .option("--check-blocks <n>", "cross-check with the diffs of this many blocks before the height", int, 64)
    .option("--segments", "verify every segment too")
    .action(async (o) => {
      const chain = await openChain(o);
      let bad = 0;
      for (const s of await listSnapshots(chain)) {
        if (o.height !== undefined && s.height !== o.height) continue;
        try {
          console.log(
            JSON.stringify({ ok: true, ...(await verifySnapshot(chain, s, { checkBlocks: o.checkBlocks })) }),
          );
        } catch (err) {
          bad++;
          console.log(JSON.stringify({ ok: false, height: s.height, error: (err as Error).message }));
        }
      }
      if (o.segments) {
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
    });
  common(snap.command("retire").description("delete all but the newest snapshots"))
    .option("--keep <n>", "snapshots kept", int, 2)
    .action(async (o) => {
      console.log(JSON.stringify({ retired: await retireSnapshots(await openChain(o), o.keep) }));
    });
}

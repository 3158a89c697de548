/** The `chainkeep pack` and `chainkeep snapshot …` subcommands (segments and snapshots). */
import type { Command } from "commander";
import {
  fileOptions,
  lineOptions,
  loadConfig,
  packRole,
  snapshotCreateRole,
  snapshotListRole,
  snapshotRetireRole,
  snapshotVerifyRole,
  storeSpecOf,
  writerFileSettings,
} from "../config/index.ts";
import type { ArchiveLine } from "../node/index.ts";
import type { Logger } from "../util/logger.ts";
import type { Options, OptionValues } from "../util/options.ts";
import { addOptions, resolveRole } from "./options.ts";

/**
 * Adds a line command's options (its role's, and the configuration file's) to `cmd`; the returned
 * function resolves them (flag > env > the file's writer entry > default) and opens the chain's
 * line in the store.
 */
function lineCommand<O extends Options>(
  cmd: Command,
  role: O,
  logger: () => Logger,
): () => Promise<{ line: ArchiveLine; s: OptionValues<O> }> {
  addOptions(cmd, { ...fileOptions, ...role });
  return async () => {
    const f = resolveRole(cmd, fileOptions, {}).values;
    const file =
      f.config !== undefined && f.config !== ""
        ? writerFileSettings(loadConfig(f.config), {
            node: f.node,
            // A chain id given as a flag or variable picks the chain's entry.
            chainId: resolveRole(cmd, { chainId: lineOptions.chainId }, {}).values.chainId,
          })
        : { values: {}, extras: {} };
    const s = resolveRole(cmd, role, file.values).values;
    const where = resolveRole(cmd, lineOptions, file.values).values;
    const { openArchiveLine } = await import("../node/index.ts");
    const line = await openArchiveLine(
      { store: storeSpecOf(where, file.extras), prefix: where.prefix, chainId: where.chainId },
      { logger: logger() },
    );
    return { line, s };
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
  const openPack = lineCommand(pack, packRole, deps.logger);
  pack.action(async () => {
    const { line, s } = await openPack();
    if (s.watch) {
      const loop = line.watch(s);
      deps.onShutdown(async () => {
        await loop.close();
        await line.close();
      });
      return;
    }
    console.log(JSON.stringify(await line.packOnce(s)));
    await line.close();
  });

  const snap = program.command("snapshot").description("state snapshots at finalized heights");

  const create = snap.command("create").description("write the full state at a finalized height");
  const openCreate = lineCommand(create, snapshotCreateRole, deps.logger);
  create.action(async () => {
    const { line, s } = await openCreate();
    const { manifest: m, retired } = await line.createSnapshot(s);
    console.log(JSON.stringify({ height: m.height, chunks: m.chunks.length, ...m.totals, retired }));
    await line.close();
  });

  const list = snap.command("list").description("list snapshots (and segments)");
  const openList = lineCommand(list, snapshotListRole, deps.logger);
  list.action(async () => {
    const { line } = await openList();
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
  const openVerify = lineCommand(verify, snapshotVerifyRole, deps.logger);
  verify.action(async () => {
    const { line, s } = await openVerify();
    const checks = await line.verify(s);
    for (const c of checks) console.log(JSON.stringify(c));
    process.exitCode = checks.some((c) => !c.ok) ? 1 : 0;
    await line.close();
  });

  const retire = snap.command("retire").description("delete all but the newest snapshots");
  const openRetire = lineCommand(retire, snapshotRetireRole, deps.logger);
  retire.action(async () => {
    const { line, s } = await openRetire();
    console.log(JSON.stringify({ retired: await line.retire(s.keep) }));
    await line.close();
  });
}

import {
  type EreExportReport,
  type ExportBlock,
  exportEre,
  readBlocks,
  verifyEreDir,
} from "../archive/index.ts";
import type { RpcReceipt } from "../format/index.ts";
import { ChainDb } from "../reader/index.ts";
import { ChainStore, onlyChainId, openStore, type StoreSpec } from "../store/index.ts";
import { CommonError } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";

/** What `chainkeep export --format ere` reads and writes. */
export interface ExportEreOptions {
  out: string;
  /** A writer line in a store, or a reader's (archiver's) stopped data directory. */
  source: { store: StoreSpec; prefix: string; chainId?: number } | { dataDir: string };
  from?: number;
  to?: number;
  /** The network name in the file names (default `chain<id>`). */
  network?: string;
}

const BATCH = 256;

/**
 * Composition root of `chainkeep export --format ere`: blocks (verified) from the store's
 * segments and bundles, or from a stopped reader's database, into ere files.
 */
export async function exportHistory(
  opts: ExportEreOptions,
  deps: { logger: Logger },
): Promise<EreExportReport> {
  if ("dataDir" in opts.source) {
    const info = await ChainDb.readInfo(opts.source.dataDir);
    if (!info) throw new CommonError("CONFIG_INVALID", `no database at ${opts.source.dataDir}`);
    const db = new ChainDb({ path: opts.source.dataDir, chainId: info.chainId, readOnly: true });
    try {
      const from = opts.from ?? db.earliest();
      const to = opts.to ?? db.tip()?.height ?? -1;
      if (from < db.earliest()) {
        throw new CommonError("CONFIG_INVALID", `the database holds blocks from ${db.earliest()} on`, {
          from,
        });
      }
      async function* blocks(): AsyncGenerator<ExportBlock[]> {
        for (let h = from; h <= to; h += BATCH) {
          const batch: ExportBlock[] = [];
          for (let x = h; x <= Math.min(to, h + BATCH - 1); x++) {
            const block = db.block(x);
            const receipts = db.blockReceiptsJson(x);
            if (!block || !receipts)
              throw new CommonError("CONFIG_INVALID", `the database has no block ${x}`);
            batch.push({ block, receipts: JSON.parse(receipts.text) as RpcReceipt[] });
          }
          yield batch;
        }
      }
      const report = await exportEre(blocks(), {
        out: opts.out,
        network: opts.network ?? `chain${info.chainId}`,
      });
      deps.logger.info(
        { blocks: report.blocks, files: report.files.length, ms: report.ms },
        "ere files written",
      );
      return report;
    } finally {
      await db.close();
    }
  }
  const src = opts.source;
  const store = openStore(src.store, { logger: deps.logger });
  try {
    const chainId = src.chainId ?? (await onlyChainId(store, src.prefix));
    const chain = new ChainStore(store, src.prefix, chainId);
    const meta = await chain.readMeta();
    if (!meta) throw new CommonError("CONFIG_INVALID", `no chain ${chainId} under ${src.prefix}`);
    const from = opts.from ?? meta.fromBlock;
    const to = opts.to ?? (await chain.writerTip(meta.fromBlock, meta.reorgMax)) ?? -1;
    async function* blocks(): AsyncGenerator<ExportBlock[]> {
      for await (const batch of readBlocks(chain, from, to, { batch: BATCH })) {
        yield batch.map((b) => ({ block: b.bundle.block, receipts: b.bundle.receipts }));
      }
    }
    const report = await exportEre(blocks(), { out: opts.out, network: opts.network ?? `chain${chainId}` });
    deps.logger.info(
      { blocks: report.blocks, files: report.files.length, ms: report.ms },
      "ere files written",
    );
    return report;
  } finally {
    await store.close();
  }
}

/** `chainkeep export verify DIR`. */
export function verifyHistory(dir: string): ReturnType<typeof verifyEreDir> {
  return verifyEreDir(dir);
}

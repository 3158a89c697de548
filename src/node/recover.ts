import { readFile } from "node:fs/promises";
import { type RecoveryReport, recoverLine } from "../archive/index.ts";
import { ChainStore, HttpStore, openStore, type StoreSpec } from "../store/index.ts";
import { CommonError, errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import { Closers } from "./shared.ts";

/** What `recover store` needs: the target store, the archivers, and optionally one chain. */
export interface RecoverStoreOptions {
  to: StoreSpec;
  from: string[];
  chainId?: number;
  prefix?: string;
  recoveryToken?: string;
  recoveryTokenFile?: string;
}

/** The summary of a store recovery. */
export interface RecoverStoreSummary {
  chains: RecoveryReport[];
  objects: number;
  bytes: number;
  skipped: number;
  refused: number;
  ms: number;
  mbPerSecond: number;
}

/**
 * Composition root of `chainkeep recover store`: the target store, one `HttpStore` per archiver,
 * the chains they serve (or `chainId` alone), and `recoverLine` for each, with progress lines.
 */
export async function recoverStore(
  opts: RecoverStoreOptions,
  deps: { logger: Logger },
): Promise<RecoverStoreSummary> {
  const { logger } = deps;
  if (opts.from.length === 0)
    throw new CommonError("CONFIG_MISSING", "give --from: at least one archiver URL");
  const token =
    opts.recoveryToken ??
    (opts.recoveryTokenFile ? (await readFile(opts.recoveryTokenFile, "utf8")).trim() : undefined);
  const parts = new Closers();
  try {
    const target = openStore(opts.to, { logger });
    parts.add(() => target.close());
    const archivers = opts.from.map((url) => new HttpStore(url, { token }));
    // The lines to recover: every (prefix, chain) an archiver serves, or the one asked for.
    const lines = new Map<string, { prefix: string; chainId: number }>();
    for (const a of archivers) {
      try {
        for (const c of await a.chains()) {
          if (opts.chainId !== undefined && c.chainId !== opts.chainId) continue;
          if (opts.prefix !== undefined && c.prefix !== opts.prefix) continue;
          lines.set(c.root, { prefix: c.prefix, chainId: c.chainId });
        }
      } catch (err) {
        logger.warn(
          { archiver: a.url, err: errorMessage(err) },
          "archiver unreachable: recovering from the others",
        );
      }
    }
    if (lines.size === 0)
      throw new CommonError("CONFIG_INVALID", "no archiver serves the chain(s) asked for");
    const started = Date.now();
    const reports: RecoveryReport[] = [];
    for (const { prefix, chainId } of lines.values()) {
      const sources = archivers.map((a) => ({ name: a.url, chain: new ChainStore(a, prefix, chainId) }));
      let last = 0;
      const report = await recoverLine(new ChainStore(target, prefix, chainId), sources, {
        logger,
        onProgress: (p) => {
          if (Date.now() - last < 1000 && p.done < p.total) return;
          last = Date.now();
          const s = (Date.now() - started) / 1000;
          const rate = p.bytes / 1e6 / Math.max(s, 0.001);
          const eta = p.done > 0 ? ((s / p.done) * (p.total - p.done)).toFixed(0) : "?";
          logger.info(
            {
              chainId,
              done: `${p.done}/${p.total}`,
              objects: p.objects,
              mb: (p.bytes / 1e6).toFixed(1),
              mbPerSecond: rate.toFixed(1),
              etaSeconds: eta,
            },
            "recovering: segments, heights and snapshots",
          );
        },
      });
      logger.info(
        { chainId, objects: report.objects, skipped: report.skipped, heights: report.heights },
        "chain recovered",
      );
      reports.push(report);
    }
    const ms = Date.now() - started;
    const bytes = reports.reduce((n, r) => n + r.bytes, 0);
    return {
      chains: reports,
      objects: reports.reduce((n, r) => n + r.objects, 0),
      bytes,
      skipped: reports.reduce((n, r) => n + r.skipped, 0),
      refused: reports.reduce((n, r) => n + r.refused.length, 0),
      ms,
      mbPerSecond: Number((bytes / 1e6 / Math.max(ms / 1000, 0.001)).toFixed(2)),
    };
  } finally {
    await parts.close();
  }
}

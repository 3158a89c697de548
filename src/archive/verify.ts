import type { ChainStore } from "../store/index.ts";
import { errorMessage } from "../util/errors.ts";
import { listSegments, verifySegment } from "./segments.ts";
import { listSnapshots, type SnapshotReport, verifySnapshot } from "./snapshot.ts";

/** One verdict of {@link verifyArchive}: a snapshot's report, or a segment checked, or why not. */
export type ArchiveCheck =
  | ({ ok: true } & SnapshotReport)
  | { ok: true; segment: string }
  | { ok: false; height: number; error: string }
  | { ok: false; segment: string; error: string };

/**
 * Verifies the snapshots of a chain (only the one at `height` when given; see `verifySnapshot`)
 * and, with `segments`, every segment: one verdict each, failures included.
 */
export async function verifyArchive(
  chain: ChainStore,
  opts: { height?: number; checkBlocks?: number; segments?: boolean },
): Promise<ArchiveCheck[]> {
  const out: ArchiveCheck[] = [];
  for (const s of await listSnapshots(chain)) {
    if (opts.height !== undefined && s.height !== opts.height) continue;
    try {
      out.push({ ok: true, ...(await verifySnapshot(chain, s, { checkBlocks: opts.checkBlocks })) });
    } catch (err) {
      out.push({ ok: false, height: s.height, error: errorMessage(err) });
    }
  }
  if (!opts.segments) return out;
  for (const s of await listSegments(chain)) {
    const segment = `${s.from}-${s.to}`;
    try {
      await verifySegment(chain, s);
      out.push({ ok: true, segment });
    } catch (err) {
      out.push({ ok: false, segment, error: errorMessage(err) });
    }
  }
  return out;
}

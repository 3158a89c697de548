/**
 * Archivers and disaster recovery (issue 10), as separate processes, once on a directory store and
 * once on S3 (s3rver, the file-system bus beside it): a
 * writer (reorg window 8, packing 16-block segments) and two archivers follow anvil while the
 * differential suite's varied chain is built. A third archiver is killed (kill -9) in the middle
 * of uploading the snapshot it built from its own state: the store lists no half snapshot, and
 * restarted it uploads the snapshot whole, with the header's state root. Then the store is lost:
 * the writer stops, every object of the store is deleted, one archiver's copy of a segment is corrupted
 * on its disk. `chainkeep recover store` is killed between a segment's data and its index (no
 * descriptor is written), then run again: it resumes, takes the corrupt segment from the other
 * archiver and says so. The writer restarts on the recovered store and resumes from its tip; a
 * brand-new reader restores the snapshot (recomputing its root) and syncs, and the differential
 * suite runs against it.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listSnapshots, verifySnapshot } from "../../src/archive/index.ts";
import { snapshotManifestKey } from "../../src/format/index.ts";
import { ChainStore, FsStore, type ObjectStore, openStore, parseStoreUrl } from "../../src/store/index.ts";
import { silentLogger } from "../../src/util/logger.ts";
import { startAnvil } from "../helpers/anvil.ts";
import { type ChainkeepProcess, runChainkeep, spawnChainkeep, spawnReader } from "../helpers/cluster.ts";
import { differentialSuite } from "../helpers/differential.ts";
import type { JsonRpcResponse } from "../helpers/net.ts";
import { freePort, rpc, waitFor } from "../helpers/net.ts";
import { S3RVER_CREDENTIALS, startS3rver } from "../helpers/s3rver.ts";

interface ArchiverStatus {
  chains: { chainId: number; durableHeight: number; height: number; segments: number; stage: string }[];
}

async function status(url: string): Promise<ArchiverStatus | undefined> {
  const res = await fetch(`${url}status`).catch(() => undefined);
  return res?.ok ? ((await res.json()) as ArchiverStatus) : undefined;
}

async function spawnArchiver(
  name: string,
  store: string[],
  dataDir: string,
  onSpawn: (p: ChainkeepProcess) => void,
  env: Record<string, string> = {},
  every = "1000b",
) {
  const port = await freePort();
  const args = [
    "archiver",
    ...store,
    "--data-dir",
    dataDir,
    "--rpc-port",
    String(port),
    "--poll-interval",
    "100",
    "--keep-interval",
    "200",
    "--snapshot-every",
    every,
    "--snapshot-chunk-entries",
    "20",
  ];
  const proc = spawnChainkeep(name, args, env);
  onSpawn(proc);
  const url = `http://127.0.0.1:${port}/`;
  await waitFor(async () => (await status(url)) !== undefined || proc.exited(), {
    timeoutMs: 60_000,
    what: `${name} serving`,
  });
  if (proc.exited() && !env.CHAINKEEP_TEST_CRASH_AT) throw new Error(`${name} exited\n${proc.output()}`);
  return { proc, url };
}

/** Flips a byte in the middle of the first segment's data file under `dir`. */
async function corruptFirstSegment(dir: string): Promise<string> {
  const find = async (d: string): Promise<string | undefined> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        const f = await find(p);
        if (f) return f;
      } else if (e.name === "data" && p.includes(`${join("segments", "")}`)) return p;
    }
    return undefined;
  };
  const path = await find(join(dir, "archive"));
  if (!path) throw new Error(`no segment in ${dir}`);
  const data = await readFile(path);
  data[data.length >> 1] = (data[data.length >> 1] as number) ^ 0xff;
  await writeFile(path, data);
  return path;
}

/** The differential suite after a lost store is recovered: the store a directory, or S3 (s3rver). */
function recoverySuite(kind: "directory" | "S3"): void {
  differentialSuite(
    `${kind} store lost and recovered from archivers: a new reader answers exactly as anvil`,
    async () => {
      const dir = await mkdtemp(join(tmpdir(), "ck-recovery-"));
      const anvil = await startAnvil();
      const s3 = kind === "S3" ? await startS3rver() : undefined;
      if (s3) {
        // The processes find s3rver's keys the standard AWS way.
        process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
        process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
      }
      const store = s3 ? `s3://${s3.bucket}/ck` : join(dir, "store");
      const s3Args = s3 ? ["--s3-endpoint", s3.endpoint, "--bus", "fs", "--bus-dir", join(dir, "bus")] : [];
      const storeArgs = ["--store", store, ...s3Args];
      // `recover store` into the test's store (its S3 endpoint too) from `from`.
      const recoverArgs = (from: string) => [
        "recover",
        "store",
        "--to",
        store,
        ...s3Args.slice(0, 2),
        "--from",
        from,
      ];
      const openTestStore = (): ObjectStore =>
        openStore(
          parseStoreUrl(store, s3 ? { endpoint: s3.endpoint, credentials: { ...S3RVER_CREDENTIALS } } : {}),
          {
            logger: silentLogger(),
          },
        );
      const procs: ChainkeepProcess[] = [];
      const onSpawn = (p: ChainkeepProcess) => procs.push(p);
      const diagnostics = () => procs.map((p) => `--- ${p.name} ---\n${p.output().trim()}`).join("\n");
      const writerArgs = [
        "writer",
        "--upstream",
        anvil.wsUrl,
        ...storeArgs,
        "--poll-interval",
        "100",
        "--reorg-max",
        "8",
        "--pack",
        "--segment-blocks",
        "16",
        "--pack-interval",
        "300",
      ];
      let writer = spawnChainkeep("writer", writerArgs);
      onSpawn(writer);
      const a1 = await spawnArchiver("archiver-1", storeArgs, join(dir, "a1"), onSpawn);
      const a2 = await spawnArchiver("archiver-2", storeArgs, join(dir, "a2"), onSpawn);
      let reader: { url: string; proc: ChainkeepProcess } | undefined;
      const current = () => {
        if (!reader) throw new Error("no reader yet");
        return reader;
      };
      const headOf = async (url: string) => Number((await rpc(url, "eth_blockNumber")).result);
      return {
        anvil: { ...anvil, rpc: (m: string, p: unknown[] = []) => rpc(anvil.url, m, p) },
        get readerUrl() {
          return current().url;
        },
        get readerWsUrl() {
          return current().url.replace("http://", "ws://");
        },
        readerRpc: (m: string, p: unknown[] = []): Promise<JsonRpcResponse> => rpc(current().url, m, p),
        async waitSynced(timeoutMs = 30_000) {
          let h = -1;
          await waitFor(
            async () => {
              h = await headOf(anvil.url);
              return h === (await headOf(current().url).catch(() => -1));
            },
            {
              timeoutMs,
              what: "the new reader at anvil's head",
            },
          );
          return h;
        },
        alive: () =>
          !a1.proc.exited() && !a2.proc.exited() && !writer.exited() && !(reader?.proc.exited() ?? false),
        diagnostics,
        async afterChain() {
          const head = await headOf(anvil.url);
          // Both archivers hold the whole chain durably, segments included.
          for (const a of [a1, a2]) {
            await waitFor(
              async () => {
                const s = (await status(a.url))?.chains[0];
                return s !== undefined && s.durableHeight === head && s.height === head && s.segments > 0;
              },
              { timeoutMs: 90_000, what: `${a.proc.name} durable at ${head}` },
            );
          }
          // kill -9 in the middle of a snapshot upload: nothing half-uploaded is listed; restarted,
          // the archiver uploads it whole.
          const chain = new ChainStore(openTestStore(), "primary", anvil.chainId);
          const before = (await listSnapshots(chain)).map((x) => x.height);
          const a3dir = join(dir, "a3");
          const a3 = await spawnArchiver(
            "archiver-3",
            storeArgs,
            a3dir,
            onSpawn,
            {
              CHAINKEEP_TEST_CRASH_AT: "snapshot-upload:2",
            },
            "1b",
          );
          await waitFor(async () => a3.proc.exited(), {
            timeoutMs: 90_000,
            what: "archiver-3 killed mid-upload",
          }).catch(async (err: Error) => {
            throw new Error(`${err.message}\n${JSON.stringify(await status(a3.url))}\n${a3.proc.output()}`);
          });
          assert.match(a3.proc.output(), /signal SIGKILL/);
          const local3 = new ChainStore(
            new FsStore({ dir: join(a3dir, "archive"), fsync: false }),
            "primary",
            anvil.chainId,
          );
          const made = (await listSnapshots(local3)).at(-1)?.height as number;
          assert.ok(
            made > Math.max(-1, ...before),
            `archiver-3 built a snapshot above the store's (${made}, ${before})`,
          );
          const partial = await chain.store.list(`${chain.root}snapshots/${String(made).padStart(12, "0")}/`);
          assert.ok(
            partial.length >= 1 && !partial.some((k) => k.endsWith("manifest.json")),
            `parts without a manifest: ${partial}`,
          );
          assert.deepEqual(
            (await listSnapshots(chain)).map((x) => x.height),
            before,
            "the half upload is not listed",
          );
          const a3again = await spawnArchiver("archiver-3-again", storeArgs, a3dir, onSpawn);
          await waitFor(async () => (await listSnapshots(chain)).some((x) => x.height === made), {
            timeoutMs: 60_000,
            what: "the snapshot uploaded after the restart",
          });
          const proof = await verifySnapshot(chain, {
            height: made,
            manifestKey: snapshotManifestKey(chain.root, made),
          });
          const header = (await rpc(anvil.url, "eth_getBlockByNumber", [`0x${made.toString(16)}`, false]))
            .result as { stateRoot: string };
          assert.equal(
            proof.stateRoot,
            header.stateRoot,
            "the archiver's snapshot carries the header's root",
          );
          await a3again.proc.stop();
          // The disaster: the writer stops and the store is gone.
          await writer.stop();
          // (The archivers keep running; they write nothing into a store without a descriptor.)
          if (s3) for (const key of await chain.store.list("")) await chain.store.delete(key);
          else await rm(store, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
          assert.deepEqual(await chain.store.list("", { limit: 1 }), [], "the store is empty");
          const corrupted = await corruptFirstSegment(join(dir, "a1"));
          // kill -9 during the recovery, between a segment's data and its index: the store is not yet a
          // chain (its descriptor comes last), and the segment is not listed (its index commits it).
          const killed = await runChainkeep("recover-killed", recoverArgs(`${a1.url},${a2.url}`), {
            CHAINKEEP_TEST_CRASH_AT: "recover-put:2",
          });
          assert.match(killed.output, /signal SIGKILL/);
          assert.equal(await chain.readMeta(), undefined, "no descriptor after a killed recovery");
          const rec = await runChainkeep("recover", recoverArgs(`${a1.url},${a2.url}`));
          assert.ok(rec.ok, rec.output);
          const summary = JSON.parse(/^\{\n[\s\S]*?\n\}$/m.exec(rec.output)?.[0] ?? "null") as {
            objects: number;
            skipped: number;
            refused: number;
            chains: {
              refused: { key: string; source: string; recovered: boolean }[];
              heights: { to: number };
            }[];
          };
          assert.ok(
            summary.objects + summary.skipped > head,
            `objects recovered: ${summary.objects} + ${summary.skipped}`,
          );
          const refused = summary.chains[0]?.refused ?? [];
          assert.ok(
            refused.some(
              (r) => r.source === a1.url && r.recovered && corrupted.endsWith(join(...r.key.split("/"))),
            ),
            `the corrupt segment is refused on archiver-1 and taken from archiver-2: ${JSON.stringify(refused)}`,
          );
          assert.equal(summary.chains[0]?.heights.to, head);
          assert.ok(
            summary.skipped >= 1,
            `the resumed run skipped what the killed one wrote: ${summary.skipped}`,
          );
          // A second run resumes: nothing to copy but the descriptor.
          const again = await runChainkeep("recover-again", recoverArgs(a2.url));
          assert.ok(again.ok, again.output);
          // The writer resumes from the recovered tip; a brand-new reader syncs from the recovered store.
          writer = spawnChainkeep("writer", writerArgs);
          onSpawn(writer);
          reader = await spawnReader({
            name: "reader-new",
            store,
            dataDir: join(dir, "r-new"),
            upstream: anvil.url,
            // It restores the newest snapshot, its root recomputed from the chunks first.
            args: ["--verify-state-root", "true", ...s3Args],
            onSpawn,
            diagnostics,
          });
          await anvil.rpc("evm_mine", []);
          await waitFor(async () => (await headOf(current().url).catch(() => -1)) === head + 1, {
            timeoutMs: 60_000,
            what: "the writer's new block at the new reader",
          });
        },
        async stop() {
          for (const p of [...procs].reverse()) await p.stop();
          await anvil.stop();
          await s3?.dispose();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  );
}

recoverySuite("directory");
recoverySuite("S3");

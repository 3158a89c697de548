/**
 * Archivers and disaster recovery (issue 10), as separate processes on a directory store: a
 * writer (reorg window 8, packing 16-block segments) and two archivers follow anvil while the
 * differential suite's varied chain is built. Then the store is lost: the writer stops, the store
 * directory is deleted, one archiver's copy of a segment is corrupted on its disk, and
 * `chainkeep recover store` rebuilds the store from both archivers (taking that segment from the
 * other one, and saying so). The writer restarts on the recovered store and resumes from its tip;
 * a brand-new reader syncs from it, and the differential suite runs against that reader.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAnvil } from "../helpers/anvil.ts";
import { type ChainkeepProcess, runChainkeep, spawnChainkeep, spawnReader } from "../helpers/cluster.ts";
import { differentialSuite } from "../helpers/differential.ts";
import type { JsonRpcResponse } from "../helpers/net.ts";
import { freePort, rpc, waitFor } from "../helpers/net.ts";

interface ArchiverStatus {
  chains: { chainId: number; durableHeight: number; height: number; segments: number; stage: string }[];
}

async function status(url: string): Promise<ArchiverStatus | undefined> {
  const res = await fetch(`${url}status`).catch(() => undefined);
  return res?.ok ? ((await res.json()) as ArchiverStatus) : undefined;
}

async function spawnArchiver(
  name: string,
  store: string,
  dataDir: string,
  onSpawn: (p: ChainkeepProcess) => void,
) {
  const port = await freePort();
  const proc = spawnChainkeep(name, [
    "archiver",
    "--store",
    store,
    "--data-dir",
    dataDir,
    "--rpc-port",
    String(port),
    "--poll-interval",
    "100",
    "--keep-interval",
    "200",
    "--snapshot-every",
    "24b",
    "--snapshot-chunk-entries",
    "20",
  ]);
  onSpawn(proc);
  const url = `http://127.0.0.1:${port}/`;
  await waitFor(async () => (await status(url)) !== undefined || proc.exited(), {
    timeoutMs: 60_000,
    what: `${name} serving`,
  });
  if (proc.exited()) throw new Error(`${name} exited\n${proc.output()}`);
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

differentialSuite(
  "after the store is lost and recovered from archivers, a new reader answers exactly as anvil",
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "ck-recovery-"));
    const anvil = await startAnvil();
    const store = join(dir, "store");
    const procs: ChainkeepProcess[] = [];
    const onSpawn = (p: ChainkeepProcess) => procs.push(p);
    const diagnostics = () => procs.map((p) => `--- ${p.name} ---\n${p.output().trim()}`).join("\n");
    const writerArgs = [
      "writer",
      "--upstream",
      anvil.wsUrl,
      "--store",
      store,
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
    const a1 = await spawnArchiver("archiver-1", store, join(dir, "a1"), onSpawn);
    const a2 = await spawnArchiver("archiver-2", store, join(dir, "a2"), onSpawn);
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
        // Both archivers hold the whole chain durably, with segments and a snapshot of their own.
        for (const a of [a1, a2]) {
          await waitFor(
            async () => {
              const s = (await status(a.url))?.chains[0];
              return s !== undefined && s.durableHeight === head && s.height === head && s.segments > 0;
            },
            { timeoutMs: 90_000, what: `${a.proc.name} durable at ${head}` },
          );
        }
        // The disaster: the writer stops and the store is gone.
        await writer.stop();
        await rm(store, { recursive: true, force: true });
        const corrupted = await corruptFirstSegment(join(dir, "a1"));
        const rec = await runChainkeep("recover", [
          "recover",
          "store",
          "--to",
          store,
          "--from",
          `${a1.url},${a2.url}`,
        ]);
        assert.ok(rec.ok, rec.output);
        const summary = JSON.parse(/^\{\n[\s\S]*?\n\}$/m.exec(rec.output)?.[0] ?? "null") as {
          objects: number;
          refused: number;
          chains: {
            refused: { key: string; source: string; recovered: boolean }[];
            heights: { to: number };
          }[];
        };
        assert.ok(summary.objects > head, `objects recovered: ${summary.objects}`);
        const refused = summary.chains[0]?.refused ?? [];
        assert.ok(
          refused.some(
            (r) => r.source === a1.url && r.recovered && corrupted.endsWith(join(...r.key.split("/"))),
          ),
          `the corrupt segment is refused on archiver-1 and taken from archiver-2: ${JSON.stringify(refused)}`,
        );
        assert.equal(summary.chains[0]?.heights.to, head);
        // A second run resumes: nothing to copy but the descriptor.
        const again = await runChainkeep("recover-again", [
          "recover",
          "store",
          "--to",
          store,
          "--from",
          a2.url,
        ]);
        assert.ok(again.ok, again.output);
        // The writer resumes from the recovered tip; a brand-new reader syncs from the recovered store.
        writer = spawnChainkeep("writer", writerArgs);
        onSpawn(writer);
        reader = await spawnReader({
          name: "reader-new",
          store,
          dataDir: join(dir, "r-new"),
          upstream: anvil.url,
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
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
);

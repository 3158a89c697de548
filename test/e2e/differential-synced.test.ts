/**
 * The differential suite against a reader that came up through staged sync: once the varied chain
 * is mirrored and packed into segments, a new reader starts on an empty database while the writer
 * keeps committing blocks; it goes CHECKPOINT → BACKFILL (from the segments) → HEAD → LIVE, and
 * then every served method must answer exactly as anvil at every height.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type ReaderProcess,
  runChainkeep,
  spawnReader,
  startCluster,
  waitReaderAtHead,
} from "../helpers/cluster.ts";
import { differentialSuite } from "../helpers/differential.ts";
import { rpc, rpcResult, waitFor } from "../helpers/net.ts";

const ALICE = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const BOB = "0x70997970c51812dc3a010c7d5afa0b5cef5b23b8";

differentialSuite("differential after staged sync: a new reader answers exactly as anvil", async () => {
  const c = await startCluster();
  let fresh: ReaderProcess | undefined;
  const target = () => fresh ?? { url: c.readerUrl, proc: c.reader };
  return {
    anvil: c.anvil,
    get readerUrl() {
      return target().url;
    },
    get readerWsUrl() {
      return target().url.replace("http://", "ws://");
    },
    readerRpc: (method, params = []) => rpc(target().url, method, params),
    waitSynced: (timeoutMs) => waitReaderAtHead(target(), c.anvil.url, { timeoutMs, diagnostics }),
    alive: () => !c.writer.exited() && !c.reader.exited() && !(fresh?.proc.exited() ?? false),
    diagnostics,
    async stop() {
      await fresh?.proc.stop();
      await c.stop();
    },
    async afterChain() {
      // Blocks deeper than reorgMax (64) below the tip are final and go into segments of 16.
      for (let i = 0; i < 100; i++) await c.anvil.rpc("evm_mine", []);
      await c.waitSynced(120_000);
      const pack = await runChainkeep("pack", [
        "pack",
        "--store",
        join(c.dir, "store"),
        "--segment-blocks",
        "16",
      ]);
      assert.ok(pack.ok, pack.output);
      const packed = JSON.parse(
        pack.output
          .trim()
          .split("\n")
          .find((l) => l.startsWith("{")) ?? "{}",
      );
      // A new reader on an empty database while the writer keeps committing blocks.
      const startReader = spawnReader({
        name: "synced",
        store: join(c.dir, "store"),
        dataDir: join(c.dir, "synced"),
        upstream: c.anvil.url,
        args: ["--snapshots", "false", "--progress", "off"],
        // Its stage changes are logged at info.
        env: { CHAINKEEP_LOG_LEVEL: "info" },
        diagnostics,
      });
      let producing = true;
      const traffic = (async () => {
        for (let i = 0; producing && i < 40; i++) {
          await c.anvil.rpc("eth_sendTransaction", [
            { from: ALICE, to: BOB, value: `0x${(i + 1).toString(16)}` },
          ]);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      fresh = await startReader;
      await waitFor(
        async () => {
          const s = await rpcResult<false | { stage?: string }>(fresh?.url as string, "eth_syncing").catch(
            () => undefined,
          );
          return s === false;
        },
        { timeoutMs: 120_000, intervalMs: 20, what: "the new reader is LIVE" },
      );
      producing = false;
      await traffic;
      assert.ok((packed.written?.length ?? 0) >= 5, `segments written: ${pack.output}`);
      const entered = [...fresh.proc.output().matchAll(/"msg":"sync stage (\w+)"/g)].map((m) => m[1]);
      assert.deepEqual(entered.slice(0, 3), ["BACKFILL", "HEAD", "LIVE"], fresh.proc.output().slice(0, 3000));
    },
  };

  function diagnostics(): string {
    return `${c.diagnostics()}\n--- synced reader ---\n${fresh?.proc.output() ?? "(not started)"}`;
  }
});

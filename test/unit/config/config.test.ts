import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { busSpecFrom } from "../../../src/bus/index.ts";
import {
  clusterStoreAndBus,
  loadConfig,
  parseConfig,
  readerFileSettings,
  writerFileSettings,
} from "../../../src/config/index.ts";
import { storeSpecFrom } from "../../../src/store/index.ts";
import { ChainkeepError } from "../../../src/util/errors.ts";
import { envName, type GivenLayer, option, resolveOptions } from "../../../src/util/options.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const EXAMPLE = join(ROOT, "examples", "cluster.yaml");
const BIN = join(ROOT, "bin", "chainkeep.js");

const chain = (chainId: number, name: string, extra: Record<string, unknown> = {}) => ({
  chainId,
  name,
  upstream: `ws://127.0.0.1:${9000 + (chainId % 1000)}`,
  ...extra,
});

/** The problems a configuration is refused for (fails when it is accepted). */
function problems(data: unknown): string[] {
  try {
    parseConfig(data);
  } catch (err) {
    assert.ok(err instanceof ChainkeepError);
    assert.equal(err.code, "CONFIG_INVALID");
    return err.meta.problems as string[];
  }
  assert.fail("the configuration was accepted");
}

describe("config: the cluster file", () => {
  test("the example in examples/cluster.yaml is valid", () => {
    const cfg = loadConfig(EXAMPLE);
    assert.deepEqual(
      cfg.chains.map((c) => [c.name, c.chainId, c.reorgMax]),
      [
        ["beacon", 1666600000, 64],
        ["shard-1", 1666600001, 64],
        ["shard-2", 1666600002, 64],
      ],
    );
    assert.equal(cfg.nodes.length, 5);
    const archiver = readerFileSettings(cfg, { node: "archiver-1", role: "archiver" });
    assert.deepEqual(
      archiver.chains.map((c) => [c.chainId, c.rpcPort]),
      [
        [1666600000, 8645],
        [1666600001, 8646],
        [1666600002, 8647],
      ],
    );
    assert.equal(archiver.values.snapshotEvery, "24h");
    const { store, bus } = clusterStoreAndBus(cfg);
    assert.equal(store?.type, "s3");
    assert.equal(bus?.type, "nats");
    // Relative directories are relative to the file.
    const reader = readerFileSettings(cfg, { node: "reader-1" });
    assert.equal(reader.chains[0]?.dataDir, join(ROOT, "examples", "data", "reader-1", "beacon"));
    // The reader forwards to an http URL: the chain's ws upstream as http, unless it names one.
    assert.equal(reader.chains[0]?.upstream, "http://127.0.0.1:9500");
    assert.equal(reader.chains[2]?.upstream, "http://127.0.0.1:9520");
  });

  test("`chainkeep config check` prints OK for a valid file, the problems and exit 1 otherwise", () => {
    const ok = execFileSync(process.execPath, [BIN, "config", "check", EXAMPLE], { encoding: "utf8" });
    assert.match(ok, /: OK/);
    assert.match(ok, /beacon \(1666600000\), shard-1 \(1666600001\), shard-2 \(1666600002\)/);
    const dir = mkdtempSync(join(tmpdir(), "ck-config-"));
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "chains:\n  - chainId: 7\n    name: a\n    upstream: ws://x:1\n    reorgMax: -1\n");
    const res = spawnSync(process.execPath, [BIN, "config", "check", bad], { encoding: "utf8" });
    assert.equal(res.status, 1);
    assert.match(res.stderr, /chains\[0\]\.reorgMax: expected a positive integer/);
  });

  test("errors name the key path of every problem", () => {
    assert.deepEqual(problems({ chains: [chain(1, "a"), chain(2, "b", { reorgMax: 0, reorgMx: 3 })] }), [
      "chains[1].reorgMax: expected a positive integer",
      "chains[1].reorgMx: unknown key",
    ]);
    assert.deepEqual(problems({ chains: [{ name: "a" }] }), [
      "chains[0].chainId: required",
      "chains[0].upstream: required",
    ]);
    assert.deepEqual(problems({ store: { type: "gcs" } }), ["store.type: expected type: fs or type: s3"]);
    assert.deepEqual(problems({ store: { type: "s3" } }), ["store.bucket: required"]);
    assert.deepEqual(problems({ bus: { type: "nats", servers: ["http://x"] } }), [
      "bus.servers[0]: expected a nats:// URL or host:port",
    ]);
    assert.deepEqual(problems({ chains: "x" }), ['chains: expected array, got "x"']);
    assert.deepEqual(
      problems({
        chains: [chain(1, "a")],
        nodes: [{ name: "r", role: "reader", chains: [{ chain: "a", rpcPort: 70000, dataDir: "d" }] }],
      }),
      ["nodes[0].chains[0].rpcPort: expected a port number (0-65535)"],
    );
    assert.deepEqual(problems({ nodes: [{ name: "x", role: "oracle" }] }), [
      "nodes[0].role: expected role: writer, reader or archiver",
    ]);
    assert.deepEqual(problems({ nodes: [{ name: "x", role: "archiver" }] }), ["nodes[0].chains: required"]);
    assert.deepEqual(
      problems({
        chains: [chain(1, "a")],
        nodes: [
          {
            name: "x",
            role: "archiver",
            snapshotKeep: 0,
            chains: [{ chain: "a", rpcPort: 1, dataDir: "d" }],
          },
        ],
      }),
      ["nodes[0].snapshotKeep: expected a positive integer"],
    );
  });

  test("cross-references: unique ids, names and ports, known chains, one writer per chain", () => {
    assert.deepEqual(
      problems({
        chains: [chain(1, "a"), chain(1, "a")],
        nodes: [
          { name: "w1", role: "writer", chain: "a" },
          { name: "w2", role: "writer", chain: 1 },
          { name: "w3", role: "writer", chain: "zz" },
          {
            name: "r",
            role: "reader",
            chains: [
              { chain: "a", rpcPort: 8545, dataDir: "/d" },
              { chain: "a", rpcPort: 8545, dataDir: "/d" },
            ],
          },
          { name: "r", role: "reader", chains: [{ chain: "q", rpcPort: 1, dataDir: "/e" }] },
        ],
      }),
      [
        "chains[1].chainId: chain id 1 is already used by chains[0]",
        "chains[1].name: name a is already used by chains[0]",
        "nodes[1].chain: chain 1 already has a writer (nodes[0]): one writer per chain",
        "nodes[2].chain: no chain zz in chains",
        "nodes[3].chains[1].chain: chain a is served twice by this node",
        "nodes[3].chains[1].rpcPort: port 8545 is already used by chains[0] of this node",
        "nodes[3].chains[1].dataDir: data directory /d is already used by nodes[3].chains[0]",
        "nodes[4].name: node name r is already used by nodes[3]",
        "nodes[4].chains[0].chain: no chain q in chains",
      ],
    );
  });

  test("unreadable files and YAML syntax errors have their own codes", () => {
    assert.throws(() => loadConfig("/nonexistent/cluster.yaml"), { code: "CONFIG_UNREADABLE" });
    const dir = mkdtempSync(join(tmpdir(), "ck-config-"));
    const file = join(dir, "c.yaml");
    writeFileSync(file, "chains: [\n  - a: 1\n");
    assert.throws(
      () => loadConfig(file),
      (err: ChainkeepError) => {
        assert.equal(err.code, "CONFIG_SYNTAX");
        assert.match((err.meta.problems as string[])[0] as string, /^line \d+, column \d+: /);
        return true;
      },
    );
    writeFileSync(file, "chains: []\nchains: []\n");
    assert.throws(() => loadConfig(file), { code: "CONFIG_SYNTAX" });
  });
});

describe("config: settings precedence", () => {
  test("environment variable names", () => {
    assert.equal(envName("rpcPort"), "CHAINKEEP_RPC_PORT");
    assert.equal(envName("s3Endpoint"), "CHAINKEEP_S3_ENDPOINT");
    assert.equal(envName("s3ForcePathStyle"), "CHAINKEEP_S3_FORCE_PATH_STYLE");
    assert.equal(envName("store"), "CHAINKEEP_STORE");
  });

  test("flag > env > file > default, for each setting on its own", () => {
    const decl = {
      a: option.int({ description: "a", default: 100 }),
      b: option.int({ description: "b", default: 200 }),
      c: option.int({ description: "c", default: 300 }),
      d: option.int({ description: "d", default: 400 }),
      e: option.int({ description: "e", default: 500 }),
      f: option.int({ description: "f" }),
    };
    // e: commander's own default is not a flag or a variable.
    const given: Record<string, { value: unknown; source: "cli" | "env" }> = {
      a: { value: 1, source: "cli" },
      b: { value: 2, source: "env" },
    };
    const layer: GivenLayer = (k) => given[k];
    const file = { a: 10, b: 20, c: 30, e: 50 };
    const r = resolveOptions(decl, layer, file);
    assert.deepEqual(r.values, { a: 1, b: 2, c: 30, d: 400, e: 50 });
    assert.deepEqual(r.sources, { a: "cli", b: "env", c: "file", d: "default", e: "file" });
  });

  test("a writer's settings come from its node entry and its chain", () => {
    const cfg = loadConfig(EXAMPLE);
    const w = writerFileSettings(cfg, { node: "writer-shard-2" });
    assert.equal(w.values.chainId, 1666600002);
    assert.deepEqual(w.values.upstream, ["ws://127.0.0.1:9520"]);
    assert.equal(w.values.statusPort, 9102);
    assert.equal(w.values.pollInterval, 1000);
    assert.equal(w.values.store, "s3://chainkeep/mainnet");
    assert.equal(w.values.natsUrl, "nats://127.0.0.1:4222");
    // Chosen by chain id, the node entry of that chain applies as well.
    assert.equal(writerFileSettings(cfg, { chainId: 1666600000 }).values.statusPort, 9100);
    assert.deepEqual(writerFileSettings(cfg, { chainId: 1666600000 }).values.upstream, [
      "ws://127.0.0.1:9500",
      "ws://127.0.0.1:9501",
    ]);
    assert.throws(() => writerFileSettings(cfg, {}), { code: "CONFIG_INVALID" });
    assert.throws(() => writerFileSettings(cfg, { node: "reader-1" }), { code: "CONFIG_INVALID" });
    assert.throws(() => writerFileSettings(cfg, { node: "nobody" }), { code: "CONFIG_INVALID" });
  });

  test("store and bus specs: directory or s3:// URL; the bus defaults follow the store", () => {
    assert.deepEqual(storeSpecFrom({ store: "/data/store" }), { type: "fs", dir: "/data/store" });
    assert.deepEqual(
      storeSpecFrom(
        { store: "s3://b/some/prefix", s3Endpoint: "http://h:9000", s3ForcePathStyle: true },
        { accessKeyId: "k", secretAccessKey: "s" },
      ),
      {
        type: "s3",
        bucket: "b",
        keyPrefix: "some/prefix",
        endpoint: "http://h:9000",
        forcePathStyle: true,
        credentials: { accessKeyId: "k", secretAccessKey: "s" },
      },
    );
    assert.throws(() => storeSpecFrom({}), { code: "CONFIG_MISSING" });
    assert.throws(() => storeSpecFrom({ store: "s3://" }), { code: "CONFIG_INVALID" });
    // The bus defaults follow the store: a directory store's directory, an S3 store's none.
    const fs = "/s";
    const s3 = undefined;
    assert.deepEqual(busSpecFrom({}, fs), { type: "fs", dir: "/s/.bus" });
    assert.deepEqual(busSpecFrom({}, s3), { type: "memory" });
    assert.deepEqual(busSpecFrom({ natsUrl: "nats://a:1, nats://b:2" }, fs), {
      type: "nats",
      servers: ["nats://a:1", "nats://b:2"],
    });
    assert.deepEqual(busSpecFrom({ bus: "none" }, fs), { type: "memory" });
    assert.throws(() => busSpecFrom({ bus: "nats" }, fs), { code: "CONFIG_MISSING" });
    assert.throws(() => busSpecFrom({ bus: "fs" }, s3), { code: "CONFIG_MISSING" });
  });
});

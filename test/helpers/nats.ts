/**
 * A real NATS server with JetStream for tests: the Debian package `nats-server` (installed by
 * `scripts/ensure-nats.sh`, which `npm test` runs first), started on a free 127.0.0.1 port with its
 * JetStream store in a temporary directory. The test can kill it and start it again on the same
 * port with the same store.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./net.ts";

const ENSURE_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "scripts", "ensure-nats.sh");

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  // Debian installs it in /usr/sbin, which a non-root PATH may lack.
  return existsSync(`/usr/sbin/${name}`) ? `/usr/sbin/${name}` : undefined;
}

/** The `nats-server` binary; runs `scripts/ensure-nats.sh` once when it is missing. */
export function natsServerBinary(): string {
  const found = onPath("nats-server");
  if (found) return found;
  execFileSync("bash", [ENSURE_SCRIPT], { stdio: ["ignore", "inherit", "inherit"] });
  const installed = onPath("nats-server");
  if (!installed) throw new Error("nats-server is not installed (see scripts/ensure-nats.sh)");
  return installed;
}

/** A running nats-server. */
export interface NatsServerInstance {
  /** `nats://127.0.0.1:{port}`. */
  url: string;
  port: number;
  /** The JetStream store directory (`-sd`), kept across restarts. */
  storeDir: string;
  readonly running: boolean;
  /** What the server printed (the latest run last), for failure messages. */
  output(): string;
  /** Kills it (SIGKILL by default, as a crash would) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port with the same store. */
  start(): Promise<void>;
  /** Stops it and removes its store. */
  dispose(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const p of running) p.kill("SIGKILL");
});

/** Spawns the server and resolves once it says it is ready; rejects when it exits first. */
function spawnServer(bin: string, port: number, storeDir: string, log: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["-js", "-sd", storeDir, "-p", String(port), "-a", "127.0.0.1"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    running.add(child);
    let text = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`nats-server did not become ready in 15 s:\n${text}`));
    }, 15_000);
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      log.push(chunk.toString());
      if (text.includes("Server is ready")) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("error", (err) => {
      clearTimeout(timer);
      running.delete(child);
      reject(err);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const err = new Error(`nats-server exited (${code ?? signal}) before it was ready:\n${text}`);
      (err as Error & { addressInUse?: boolean }).addressInUse = /address already in use/i.test(text);
      reject(err);
    });
  });
}

/** Starts nats-server with JetStream on a free loopback port and a temporary store. */
export async function startNatsServer(): Promise<NatsServerInstance> {
  const bin = natsServerBinary();
  const storeDir = await mkdtemp(join(tmpdir(), "ck-nats-"));
  const log: string[] = [];
  let child: ChildProcess | undefined;
  let port = 0;
  // The port is free when chosen but may be taken before the server binds it: pick another then.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      child = await spawnServer(bin, port, storeDir, log);
      break;
    } catch (err) {
      if (!(err as { addressInUse?: boolean }).addressInUse || attempt >= 5) throw err;
    }
  }

  const stop = async (signal: NodeJS.Signals = "SIGKILL") => {
    const c = child;
    if (!c) return;
    child = undefined;
    if (c.exitCode === null && c.signalCode === null) {
      const exited = new Promise<void>((resolve) => c.once("exit", () => resolve()));
      c.kill(signal);
      await exited;
    }
    running.delete(c);
  };

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get running() {
      return child !== undefined;
    },
    output: () => log.join(""),
    stop,
    async start() {
      if (child) return;
      // The same port: right after a kill it may still be held for a moment; retry a few seconds.
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          child = await spawnServer(bin, port, storeDir, log);
          return;
        } catch (err) {
          if (!(err as { addressInUse?: boolean }).addressInUse || Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    async dispose() {
      await stop();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}

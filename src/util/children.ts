import type { ChildProcess } from "node:child_process";

const alive = new Set<ChildProcess>();
let hooked = false;

/**
 * Kills `child` with SIGKILL if it is still running when this process exits. One `exit` listener
 * serves every child, however many are registered; a child leaves the set when it exits.
 */
export function killOnExit(child: ChildProcess): void {
  if (!hooked) {
    hooked = true;
    // Synchronous on purpose: 'exit' handlers cannot await.
    process.on("exit", () => {
      for (const c of alive) c.kill("SIGKILL");
    });
  }
  alive.add(child);
  child.once("exit", () => alive.delete(child));
}

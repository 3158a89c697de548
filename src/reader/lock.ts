import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CommonError } from "../util/errors.ts";

/**
 * Takes `{dataDir}/reader.lock` for this process (its pid inside), so that an offline operation
 * (`chainkeep reader backtrack --data-dir`) never runs beside a reader. A lock left by a process
 * that is gone (kill -9) is taken over. Resolves to the release function.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true });
  const file = join(dataDir, "reader.lock");
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(file, String(process.pid), { flag: "wx" });
      return () => rm(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw err;
    }
    const pid = Number(await readFile(file, "utf8").catch(() => ""));
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new CommonError("CONFIG_INVALID", `a reader (pid ${pid}) is running on ${dataDir}`, {
        dataDir,
        pid,
      });
    }
    await rm(file, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

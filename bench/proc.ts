/** Memory figures of a process from /proc, for the benches. */
import { readFileSync } from "node:fs";

/** Peak resident set (VmHWM) of a process, in MB; NaN when unknown. */
export function peakMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Anonymous resident memory (heap, not LMDB's mapped file pages) of a process now, in MB. */
export function anonMb(pid: number): number {
  try {
    const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

import { MultiBar, Presets, type SingleBar } from "cli-progress";
import type { Logger } from "../util/logger.ts";
import type { ProgressMode } from "./options.ts";
import type { StageProgress, Syncer } from "./syncer.ts";

function rate(p: StageProgress): number {
  const s = (Date.now() - p.startedMs) / 1000;
  return s > 0 ? (p.done - p.startDone) / s : 0;
}

function eta(p: StageProgress): string {
  const r = rate(p);
  if (r <= 0) return "?";
  const s = Math.max(0, (p.total - p.done) / r);
  return s < 90 ? `${s.toFixed(0)} s` : `${(s / 60).toFixed(1)} min`;
}

/**
 * Shows a syncer's progress: one bar per stage (units, bytes, rate, ETA) on a terminal, or a log
 * line every `intervalMs` and at each stage change otherwise. Returns a function that stops it.
 */
export function showProgress(
  syncer: Syncer,
  mode: ProgressMode,
  deps: { logger: Logger; stream?: NodeJS.WriteStream; intervalMs?: number },
): () => void {
  if (mode === "off") return () => {};
  if (mode === "log") {
    let last = 0;
    const line = (p: StageProgress, force = false) => {
      if (!force && Date.now() - last < (deps.intervalMs ?? 5000)) return;
      last = Date.now();
      deps.logger.info(
        {
          stage: p.stage,
          done: p.done,
          total: p.total,
          unit: p.unit,
          mb: Number((p.bytes / 1e6).toFixed(1)),
          perSecond: Number(rate(p).toFixed(1)),
          eta: eta(p),
        },
        `sync ${p.stage}: ${p.done}/${p.total} ${p.unit}`,
      );
    };
    const onProgress = (p: StageProgress) => line(p);
    const onStage = () => {
      const p = syncer.progress();
      if (p) line(p, true);
    };
    syncer.on("progress", onProgress);
    syncer.on("stage", onStage);
    return () => {
      syncer.off("progress", onProgress);
      syncer.off("stage", onStage);
    };
  }
  const multi = new MultiBar(
    {
      stream: deps.stream ?? process.stderr,
      format: "{stage} [{bar}] {value}/{total} {unit} | {mb} MB | {rate}/s | ETA {eta}",
      hideCursor: true,
      clearOnComplete: false,
      fps: 5,
    },
    Presets.shades_classic,
  );
  const bars = new Map<string, SingleBar>();
  const onProgress = (p: StageProgress) => {
    const payload = {
      stage: p.stage.padEnd(10),
      unit: p.unit,
      mb: (p.bytes / 1e6).toFixed(1),
      rate: rate(p).toFixed(0),
      eta: eta(p),
    };
    let bar = bars.get(p.stage);
    if (!bar) {
      bar = multi.create(Math.max(1, p.total), p.done, payload);
      bars.set(p.stage, bar);
    }
    bar.setTotal(Math.max(1, p.total));
    bar.update(p.done, payload);
  };
  const onStage = (stage: string) => {
    if (stage === "LIVE") multi.stop();
  };
  syncer.on("progress", onProgress);
  syncer.on("stage", onStage);
  return () => {
    syncer.off("progress", onProgress);
    syncer.off("stage", onStage);
    multi.stop();
  };
}

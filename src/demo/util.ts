/** GETs `url` (or POSTs `body` as JSON) and returns the parsed answer; 2 s at most. */
export async function fetchJson(url: string, body?: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method: body ? "POST" : "GET",
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(2000),
  });
  return res.json();
}

/**
 * The environment of the demo's child processes: this one's without `CHAINKEEP_*` settings (the
 * demo passes each child its own flags and configuration file; a `CHAINKEEP_RPC_PORT` meant for
 * the demo must not reach them), with the log level (default warn).
 */
export function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("CHAINKEEP_")) env[k] = v;
  env.CHAINKEEP_LOG_LEVEL = process.env.CHAINKEEP_LOG_LEVEL ?? "warn";
  return env;
}

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

/** A minimal WebSocket client for the RPC tests: send text, await the next message. */
import WebSocket from "ws";

export class WsClient {
  private readonly queue: string[] = [];
  private readonly waiters: ((m: string) => void)[] = [];
  /** Resolves with the close code when the server closes the connection. */
  readonly closed: Promise<number>;

  private constructor(private readonly ws: WebSocket) {
    ws.on("message", (d) => {
      const text = d.toString();
      const w = this.waiters.shift();
      if (w) w(text);
      else this.queue.push(text);
    });
    this.closed = new Promise((resolve) => ws.on("close", (code) => resolve(code)));
  }

  static connect(url: string): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once("open", () => resolve(new WsClient(ws)));
      ws.once("error", reject);
    });
  }

  send(text: string): void {
    this.ws.send(text);
  }

  /** The next message, or a rejection after `timeoutMs`. */
  next(timeoutMs = 3000): Promise<string> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error("no websocket message in time"));
      }, timeoutMs);
      const done = (m: string) => {
        clearTimeout(t);
        resolve(m);
      };
      this.waiters.push(done);
    });
  }

  /** Sends one message and returns the next message, parsed. */
  async call(body: unknown): Promise<unknown> {
    this.send(typeof body === "string" ? body : JSON.stringify(body));
    return JSON.parse(await this.next());
  }

  /** Messages received and not yet read. */
  pending(): number {
    return this.queue.length;
  }

  close(): void {
    this.ws.close();
  }
}

/**
 * eth_subscribe over WebSocket: `newHeads` and `logs`
 * (https://geth.ethereum.org/docs/interacting-with-geth/rpc/pubsub). Notifications have anvil's
 * shapes: a newHeads result is the block as eth_getBlockByNumber(n, false) returns it, a logs
 * result one log object, with `removed: true` when a reorg took it away.
 */
import { randomBytes } from "node:crypto";
import type { RpcLog } from "../format/index.ts";
import type { Logger } from "../util/logger.ts";
import type { SubscriptionHost } from "./context.ts";
import type { BlockEvent, ChainEvents } from "./events.ts";
import { type CompiledFilter, compileFilter, matchLog } from "./logs.ts";
import type { LogFilterParam } from "./schemas.ts";

/** Where a connection's notifications go. */
export interface NotificationSink {
  /** Sends one text frame; returns false when the connection is gone or too far behind. */
  send(text: string): boolean;
}

interface Subscription {
  id: string;
  kind: "newHeads" | "logs";
  filter: CompiledFilter | undefined;
  sink: NotificationSink;
  owner: ConnectionSubscriptions;
}

function notification(id: string, resultJson: string): string {
  return `{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"${id}","result":${resultJson}}}`;
}

/** The subscriptions of one connection. */
export class ConnectionSubscriptions implements SubscriptionHost {
  readonly ids = new Set<string>();

  constructor(
    private readonly hub: SubscriptionHub,
    private readonly sink: NotificationSink,
  ) {}

  subscribe(kind: "newHeads" | "logs", filter: LogFilterParam | undefined): string {
    return this.hub.add(this, kind, filter, this.sink);
  }

  unsubscribe(id: string): boolean {
    return this.ids.has(id) ? this.hub.remove(id) : false;
  }

  /** Drops every subscription of this connection (on close). */
  closeAll(): void {
    for (const id of [...this.ids]) this.hub.remove(id);
  }
}

/** All subscriptions of a server, fed by the chain's `block` events. */
export class SubscriptionHub {
  private readonly subs = new Map<string, Subscription>();
  private readonly onBlock = (b: BlockEvent) => this.publish(b);

  constructor(
    private readonly events: ChainEvents,
    private readonly logger: Logger,
  ) {
    events.on("block", this.onBlock);
  }

  /** Number of live subscriptions. */
  get size(): number {
    return this.subs.size;
  }

  /** A connection's subscription set. */
  connection(sink: NotificationSink): ConnectionSubscriptions {
    return new ConnectionSubscriptions(this, sink);
  }

  add(
    owner: ConnectionSubscriptions,
    kind: "newHeads" | "logs",
    f: LogFilterParam | undefined,
    sink: NotificationSink,
  ): string {
    const id = `0x${randomBytes(16).toString("hex")}`;
    const filter = kind === "logs" ? compileFilter(f?.address, f?.topics) : undefined;
    this.subs.set(id, { id, kind, filter, sink, owner });
    owner.ids.add(id);
    return id;
  }

  remove(id: string): boolean {
    const s = this.subs.get(id);
    if (!s) return false;
    this.subs.delete(id);
    s.owner.ids.delete(id);
    return true;
  }

  /** Sends one block's notifications: the header first, then removed logs, then new logs. */
  publish(b: BlockEvent): void {
    if (this.subs.size === 0) return;
    let head: string | undefined;
    const removed: (string | undefined)[] = new Array(b.removed?.length ?? 0);
    const added: (string | undefined)[] = new Array(b.logs.length);
    const dead: Subscription[] = [];
    for (const s of this.subs.values()) {
      try {
        let ok = true;
        if (s.kind === "newHeads") {
          head ??= JSON.stringify({ ...b.block, transactions: b.block.transactions.map((t) => t.hash) });
          ok = s.sink.send(notification(s.id, head));
        } else if (s.filter) {
          ok =
            this.sendLogs(s, s.filter, b.removed ?? [], removed, true) &&
            this.sendLogs(s, s.filter, b.logs, added, false);
        }
        if (!ok) dead.push(s);
      } catch (err) {
        this.logger.warn(
          { err: (err as Error).message, subscription: s.id },
          "subscription notification failed",
        );
        dead.push(s);
      }
    }
    for (const s of dead) s.owner.closeAll();
  }

  private sendLogs(
    s: Subscription,
    f: CompiledFilter,
    logs: RpcLog[],
    texts: (string | undefined)[],
    removed: boolean,
  ): boolean {
    for (let i = 0; i < logs.length; i++) {
      const log = logs[i] as RpcLog;
      if (!matchLog(f, log)) continue;
      let text = texts[i];
      if (text === undefined) {
        text = JSON.stringify(log.removed === removed ? log : { ...log, removed });
        texts[i] = text;
      }
      if (!s.sink.send(notification(s.id, text))) return false;
    }
    return true;
  }

  /** Stops listening to the chain and drops every subscription. */
  close(): void {
    this.events.off("block", this.onBlock);
    for (const s of [...this.subs.values()]) s.owner.closeAll();
  }
}

import {
  type ConsumerMessages,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamClient,
  jetstream,
  jetstreamManager,
  StorageType,
} from "@nats-io/jetstream";
import { connect, type NatsConnection, nanos } from "@nats-io/transport-node";
import { backoffMs, sleep } from "../util/clock.ts";
import { errorMessage } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import type { Bus, HeadNotice } from "./types.ts";

/** Options of the NATS JetStream bus. */

/** The JetStream stream of the notices when none is named. */
export const DEFAULT_NATS_STREAM = "chainkeep";

export interface NatsBusOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** JetStream stream holding the notices, one per cluster (default `chainkeep`). */
  stream?: string;
  /** First subject token: notices of chain N go to `{subjectPrefix}.N.heads` (default `chainkeep`). */
  subjectPrefix?: string;
  /** Connection name the server shows (default `chainkeep`). */
  name?: string;
  /** Credentials, when the server asks for them. */
  user?: string;
  pass?: string;
  token?: string;
  /** Where the stream keeps notices: `file` (default; survives a server restart) or `memory`. */
  storage?: "file" | "memory";
  /** How long the stream keeps a notice, in ms (default 3_600_000). */
  maxAgeMs?: number;
  /** Notices kept per chain (default 1000). */
  maxMsgsPerSubject?: number;
  /** How long a publish waits for JetStream's acknowledgement, in ms (default 2_000). */
  publishTimeoutMs?: number;
  /** Time allowed to open a connection, in ms (default 2_000). */
  connectTimeoutMs?: number;
  /**
   * How long each pull of a subscriber's consumer waits, in ms (default 5_000, at least 1_000); a
   * consumer that stops receiving recovers within about this long.
   */
  pullExpiresMs?: number;
  /** Base wait between reconnection attempts, in ms (default 500; jittered, backed off up to 10 s). */
  reconnectWaitMs?: number;
}

/** What the NATS bus needs. */
export interface NatsBusDeps {
  logger: Logger;
}

/** Counters of a {@link NatsBus}, for status pages and tests. */
export interface NatsBusStats {
  /** Connected to a server with the stream in place. */
  connected: boolean;
  /** Notices JetStream acknowledged. */
  published: number;
  /** Notices not published (no connection, no ack in time, stream missing). */
  dropped: number;
  /** Notices handed to subscribers. */
  received: number;
}

interface Subscription {
  chainId: number;
  onNotice: (n: HeadNotice) => void;
  stopped: boolean;
  messages: ConsumerMessages | undefined;
  /** Resolves once a consumer delivers (or the subscription stops). */
  live: Promise<void>;
  setLive: () => void;
}

// JetStream API error: a stream with this name exists with another configuration.
const STREAM_NAME_IN_USE = 10058;

/**
 * The bus on NATS JetStream: one stream per cluster, one subject per chain
 * (`chainkeep.<chainId>.heads`). Publishing never throws: with NATS away, a notice is dropped and
 * logged, and readers find the block by polling the store. Subscribers read through an ordered
 * (ephemeral) consumer from new notices on; the client reconnects by itself, and so do the
 * consumers. The first connection is made in the background; {@link ready} waits for it.
 */
export class NatsBus implements Bus {
  private readonly servers: string[];
  private readonly streamName: string;
  private readonly subjectPrefix: string;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private readonly subs = new Set<Subscription>();
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private connected = false;
  private published = 0;
  private dropped = 0;
  private received = 0;
  private dropping = false;
  private connecting: Promise<void>;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly opts: NatsBusOptions,
    deps: NatsBusDeps,
  ) {
    this.servers = Array.isArray(opts.servers) ? opts.servers : [opts.servers];
    this.streamName = opts.stream ?? DEFAULT_NATS_STREAM;
    this.subjectPrefix = opts.subjectPrefix ?? "chainkeep";
    this.log = deps.logger.child({ module: "nats-bus", stream: this.streamName });
    this.connecting = this.connectLoop();
  }

  /** The subject of a chain's notices. */
  subject(chainId: number): string {
    return `${this.subjectPrefix}.${chainId}.heads`;
  }

  /** A snapshot of the counters. */
  stats(): NatsBusStats {
    return {
      connected: this.connected,
      published: this.published,
      dropped: this.dropped,
      received: this.received,
    };
  }

  /**
   * Resolves once connected with the stream in place and every current subscription's consumer
   * delivers, or after `timeoutMs` (default: no limit) with `false`.
   */
  async ready(timeoutMs?: number): Promise<boolean> {
    const all = (async () => {
      await this.whenConnected();
      await Promise.all([...this.subs].map((s) => s.live));
      return !this.abort.signal.aborted;
    })();
    if (timeoutMs === undefined) return all;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([all, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async publish(notice: HeadNotice): Promise<void> {
    const js = this.js;
    if (!js || !this.connected) {
      this.drop(notice, "not connected to NATS");
      return;
    }
    try {
      await js.publish(this.subject(notice.chainId), JSON.stringify(notice), {
        // JetStream drops a second copy of one notice within its duplicate window.
        msgID: `${notice.chainId}/${notice.prefix}/${notice.height}/${notice.writeTs}/${notice.hash}`,
        timeout: this.opts.publishTimeoutMs ?? 2_000,
      });
      this.published += 1;
      if (this.dropping) {
        this.dropping = false;
        this.log.warn({ dropped: this.dropped }, "publishing notices again");
      }
    } catch (err) {
      this.drop(notice, errorMessage(err));
      // The stream may be gone (a memory stream after a server restart): put it back.
      if (err instanceof JetStreamApiError || /no responders/i.test(errorMessage(err))) {
        this.ensureStream().catch(() => {});
      }
    }
  }

  subscribe(chainId: number, onNotice: (n: HeadNotice) => void): () => void {
    let setLive = () => {};
    const live = new Promise<void>((resolve) => {
      setLive = resolve;
    });
    const sub: Subscription = { chainId, onNotice, stopped: false, messages: undefined, live, setLive };
    this.subs.add(sub);
    this.consumeLoop(sub).catch((err: unknown) =>
      this.log.error({ chainId, err: errorMessage(err) }, "NATS subscription loop failed"),
    );
    return () => this.stopSubscription(sub);
  }

  async close(): Promise<void> {
    this.abort.abort();
    for (const sub of this.subs) this.stopSubscription(sub);
    this.wake();
    this.connected = false;
    this.js = undefined;
    const nc = this.nc;
    this.nc = undefined;
    // Closing the connection ends the connect loop, which waits on `nc.closed()`.
    if (nc && !nc.isClosed()) await nc.close().catch(() => {});
    await this.connecting.catch(() => {});
  }

  private stopSubscription(sub: Subscription): void {
    sub.stopped = true;
    sub.setLive();
    this.subs.delete(sub);
    sub.messages?.close().catch(() => {});
  }

  private drop(notice: HeadNotice, reason: string): void {
    this.dropped += 1;
    const meta = { chainId: notice.chainId, height: notice.height, reason };
    if (this.dropping) {
      this.log.debug(meta, "notice not published");
      return;
    }
    this.dropping = true;
    this.log.warn(meta, "notice not published; readers will find the block by polling the store");
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves when connected (or closed). */
  private whenConnected(): Promise<void> {
    if ((this.connected && this.js) || this.abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Connects, makes sure the stream exists, then waits for the connection to close for good (the
   * client itself reconnects after outages) and starts over; until `close()`.
   */
  private async connectLoop(): Promise<void> {
    const signal = this.abort.signal;
    const base = this.opts.reconnectWaitMs ?? 500;
    let failures = 0;
    while (!signal.aborted) {
      let nc: NatsConnection | undefined;
      try {
        nc = await connect({
          servers: this.servers,
          name: this.opts.name ?? "chainkeep",
          ...(this.opts.user !== undefined ? { user: this.opts.user, pass: this.opts.pass } : {}),
          ...(this.opts.token !== undefined ? { token: this.opts.token } : {}),
          timeout: this.opts.connectTimeoutMs ?? 2_000,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: base,
          reconnectJitter: Math.ceil(base / 2),
        });
        if (signal.aborted) {
          await nc.close();
          return;
        }
        this.nc = nc;
        this.js = jetstream(nc);
        this.watchStatus(nc);
        await this.ensureStream();
        this.connected = true;
        failures = 0;
        this.log.info({ server: nc.getServer() }, "connected to NATS");
        this.wake();
        const err = await nc.closed();
        this.connected = false;
        this.js = undefined;
        if (!signal.aborted) {
          this.log.warn({ err: err ? errorMessage(err) : undefined }, "NATS connection closed; reconnecting");
        }
      } catch (err) {
        this.connected = false;
        this.js = undefined;
        if (nc && !nc.isClosed()) await nc.close().catch(() => {});
        const meta = { servers: this.servers, err: errorMessage(err), failures: failures + 1 };
        if (failures === 0) this.log.warn(meta, "cannot connect to NATS; retrying (readers poll the store)");
        else this.log.debug(meta, "cannot connect to NATS");
        failures += 1;
      }
      if (!signal.aborted) await sleep(backoffMs(failures, base, 10_000), signal);
    }
  }

  /** Follows the client's connection status: publish only while connected. */
  private watchStatus(nc: NatsConnection): void {
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect") {
          if (this.connected) this.log.warn({ server: s.server }, "disconnected from NATS; reconnecting");
          this.connected = false;
        } else if (s.type === "reconnect") {
          try {
            await this.ensureStream();
            this.connected = true;
            this.log.warn({ server: s.server }, "reconnected to NATS");
            this.wake();
          } catch (err) {
            this.log.warn({ err: errorMessage(err) }, "reconnected to NATS, but the stream is not available");
          }
        }
      }
    })().catch(() => {});
  }

  /** Creates the stream when missing; an existing stream of that name is used as it is. */
  private async ensureStream(): Promise<void> {
    const nc = this.nc;
    if (!nc) return;
    const jsm = await jetstreamManager(nc);
    try {
      await jsm.streams.add({
        name: this.streamName,
        subjects: [`${this.subjectPrefix}.*.heads`],
        storage: this.opts.storage === "memory" ? StorageType.Memory : StorageType.File,
        max_age: nanos(this.opts.maxAgeMs ?? 3_600_000),
        max_msgs_per_subject: this.opts.maxMsgsPerSubject ?? 1000,
        discard: DiscardPolicy.Old,
        duplicate_window: nanos(Math.min(120_000, this.opts.maxAgeMs ?? 3_600_000)),
      });
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE) {
        this.log.debug("the stream exists with other settings; using it as it is");
        return;
      }
      throw err;
    }
  }

  /** Logs what the consumer reports (missed heartbeats, recreation after an outage …). */
  private watchConsumer(chainId: number, messages: ConsumerMessages): void {
    (async () => {
      for await (const s of messages.status()) {
        if (s.type === "heartbeat" || s.type === "next") continue;
        this.log.debug({ chainId, status: s }, "NATS consumer status");
      }
    })().catch(() => {});
  }

  /** Reads the chain's notices through an ordered consumer from "new"; recreates it when it ends. */
  private async consumeLoop(sub: Subscription): Promise<void> {
    const signal = this.abort.signal;
    let failures = 0;
    while (!sub.stopped && !signal.aborted) {
      try {
        await this.whenConnected();
        const js = this.js;
        if (!js || sub.stopped || signal.aborted) continue;
        const consumer = await js.consumers.get(this.streamName, {
          // One subject as a string: the client sends `filter_subject`, which servers before 2.10
          // (Debian's nats-server is 2.9) accept; a list needs 2.10.
          filter_subjects: this.subject(sub.chainId),
          deliver_policy: DeliverPolicy.New,
        });
        // Short pulls: a consumer that stalls (as the client's ordered consumer can right after a
        // server restart) misses two heartbeats (half of this each) and recovers within it.
        const messages = await consumer.consume({
          expires: Math.max(1_000, this.opts.pullExpiresMs ?? 5_000),
        });
        sub.messages = messages;
        if (sub.stopped) {
          await messages.close();
          break;
        }
        failures = 0;
        sub.setLive();
        this.watchConsumer(sub.chainId, messages);
        for await (const m of messages) {
          let notice: HeadNotice;
          try {
            notice = m.json<HeadNotice>();
          } catch {
            this.log.warn({ subject: m.subject, seq: m.seq }, "ignoring a notice that is not JSON");
            continue;
          }
          this.received += 1;
          try {
            sub.onNotice(notice);
          } catch (err) {
            this.log.warn({ chainId: sub.chainId, err: errorMessage(err) }, "notice handler failed");
          }
        }
      } catch (err) {
        if (sub.stopped || signal.aborted) break;
        failures += 1;
        const meta = { chainId: sub.chainId, err: errorMessage(err), failures };
        if (failures === 1) this.log.warn(meta, "NATS consumer failed; retrying");
        else this.log.debug(meta, "NATS consumer failed");
      }
      if (!sub.stopped && !signal.aborted) {
        await sleep(backoffMs(failures, this.opts.reconnectWaitMs ?? 500, 10_000), signal);
      }
    }
  }
}

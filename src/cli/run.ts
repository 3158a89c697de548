/** Running a role in the foreground: until SIGINT or SIGTERM. */
import { errorMessage } from "../util/errors.ts";

/** Runs `close` on SIGINT/SIGTERM, once, then exits. */
export function onShutdown(close: () => Promise<void>): void {
  let closing = false;
  const handler = (sig: string) => {
    if (closing) return;
    closing = true;
    process.stderr.write(`\n${sig}: shutting down\n`);
    close()
      .then(() => process.exit(0))
      .catch((err) => {
        process.stderr.write(`shutdown failed: ${errorMessage(err)}\n`);
        process.exit(1);
      });
  };
  process.on("SIGINT", () => handler("SIGINT"));
  process.on("SIGTERM", () => handler("SIGTERM"));
}

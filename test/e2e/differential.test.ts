/**
 * Differential test: the same JSON-RPC requests go to anvil (the upstream) and to a chainkeep
 * reader (separate processes: anvil → writer → directory store → reader), and the whole
 * responses must be equal as JSON (see test/helpers/differential.ts for the suite).
 */
import { startCluster } from "../helpers/cluster.ts";
import { differentialSuite } from "../helpers/differential.ts";

differentialSuite("differential: a chainkeep reader answers exactly as anvil", async () => {
  const c = await startCluster();
  return { ...c, alive: () => !c.writer.exited() && !c.reader.exited() };
});

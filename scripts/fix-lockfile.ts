/**
 * `npm run lockfile`: completes package-lock.json after `npm install`.
 *
 * npm 11 leaves out the entries of platform-specific optional dependencies that the registry
 * here cannot resolve (other OSes and CPUs), and `npm ci` then rejects the very lockfile npm wrote
 * ("Missing: @biomejs/cli-darwin-x64@ from lock file"; npm/cli#9846). This adds a versioned,
 * optional entry for each of them; `npm ci` skips those it cannot install on this platform.
 * test/unit/lockfile.test.ts fails when an entry is missing.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

interface LockPackage {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  optionalDependencies?: Record<string, string>;
}

/** The optional dependencies that have no entry in the lockfile, as [key, entry]. */
export function missingOptionalEntries(packages: Record<string, LockPackage>): [string, LockPackage][] {
  const out = new Map<string, LockPackage>();
  for (const [path, meta] of Object.entries(packages)) {
    for (const [name, version] of Object.entries(meta.optionalDependencies ?? {})) {
      const nested = path ? `${path}/node_modules/${name}` : `node_modules/${name}`;
      const hoisted = `node_modules/${name}`;
      if (nested in packages || hoisted in packages || out.has(hoisted)) continue;
      out.set(hoisted, { version, optional: true, ...(meta.dev ? { dev: true } : {}) });
    }
  }
  return [...out];
}

export const LOCKFILE = fileURLToPath(new URL("../package-lock.json", import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const lock = JSON.parse(readFileSync(LOCKFILE, "utf8")) as { packages: Record<string, LockPackage> };
  const missing = missingOptionalEntries(lock.packages);
  for (const [key, entry] of missing) lock.packages[key] = entry;
  const [root, ...rest] = Object.entries(lock.packages);
  lock.packages = Object.fromEntries([
    root as [string, LockPackage],
    ...rest.sort(([a], [b]) => (a < b ? -1 : 1)),
  ]);
  writeFileSync(LOCKFILE, `${JSON.stringify(lock, null, 2)}\n`);
  console.log(`package-lock.json: added ${missing.length} optional entries`);
}

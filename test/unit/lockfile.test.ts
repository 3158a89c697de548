import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { LOCKFILE, missingOptionalEntries } from "../../scripts/fix-lockfile.ts";

test("package-lock.json names every optional dependency, so `npm ci` accepts it (run `npm run lockfile`)", () => {
  const lock = JSON.parse(readFileSync(LOCKFILE, "utf8"));
  assert.deepEqual(
    missingOptionalEntries(lock.packages).map(([key]) => key),
    [],
  );
});

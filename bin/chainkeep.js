#!/usr/bin/env node
// Entry point of the `chainkeep` CLI: registers the TypeScript loader, then runs the CLI.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");

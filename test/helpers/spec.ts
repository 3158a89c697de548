/**
 * Validates JSON-RPC params and results against the Ethereum execution-apis OpenRPC document
 * (https://github.com/ethereum/execution-apis), kept at `../shared/spec/execution-apis-openrpc.json`
 * beside the repository (see its README.md). `CHAINKEEP_SPEC` overrides the path.
 *
 * The document's schemas point at each other with `$ref: "#/components/schemas/X"`; they are
 * registered with ajv (JSON Schema 2020-12) as one schema whose `$id` is {@link SPEC_ID}, and each
 * method's param/result schema is compiled with its references rewritten to that id.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";

/** The repository root (two levels above this file). */
const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Where the OpenRPC document is: `$CHAINKEEP_SPEC`, else `../shared/spec/…` from the repo root. */
export function specPath(): string {
  const env = process.env.CHAINKEEP_SPEC;
  if (env) return resolve(env);
  return resolve(REPO_ROOT, "../shared/spec/execution-apis-openrpc.json");
}

/** `$id` under which the document's `components.schemas` are registered. */
export const SPEC_ID = "urn:ethereum:execution-apis";

type Schema = Record<string, unknown> | boolean;

interface OpenRpcParam {
  name: string;
  required?: boolean;
  schema: Schema;
}

interface OpenRpcMethod {
  name: string;
  params: OpenRpcParam[];
  result?: { name: string; schema: Schema };
}

interface OpenRpcDocument {
  openrpc: string;
  info: { version: string; "x-source"?: unknown };
  methods: OpenRpcMethod[];
  components: { schemas: Record<string, Schema> };
}

/**
 * Result schemas of methods chainkeep serves that the execution-apis document does not define
 * (they are older web3/net methods or belong to the pub/sub API). These are chainkeep's own, not
 * the spec's: the shapes every client library assumes.
 */
const EXTRA_RESULTS: Record<string, Schema> = {
  web3_clientVersion: { type: "string", minLength: 1 },
  net_listening: { type: "boolean" },
  net_peerCount: { $ref: "#/components/schemas/uint" },
  // Removed from the spec after the merge (no uncles since); clients still call them.
  eth_getUncleCountByBlockNumber: {
    oneOf: [{ $ref: "#/components/schemas/notFound" }, { $ref: "#/components/schemas/uint" }],
  },
  eth_getUncleCountByBlockHash: {
    oneOf: [{ $ref: "#/components/schemas/notFound" }, { $ref: "#/components/schemas/uint" }],
  },
  eth_subscribe: { type: "string", pattern: "^0x[0-9a-f]+$" },
  eth_unsubscribe: { type: "boolean" },
};

type SchemaObject = Record<string, unknown> & { properties?: Record<string, Schema> };

/**
 * Deliberate, documented departures from the document, applied to `components.schemas` on load.
 * Each one either adds a field that real nodes return and the document at this commit does not
 * list (the mirror returns it too, since its answers equal the upstream's), or fixes a schema
 * that no answer could satisfy.
 */
const TOLERANCES: { schema: string; why: string; patch(s: SchemaObject): void }[] = [
  {
    schema: "ReceiptInfo",
    why: "anvil adds blockTimestamp to receipts (as the spec does to Log and TransactionInfo), as a JSON number (e.g. 1795327373), not a QUANTITY",
    patch: (s) => {
      s.properties ??= {};
      s.properties.blockTimestamp ??= {
        title: "block timestamp",
        anyOf: [{ $ref: "#/components/schemas/uint" }, { type: "integer", minimum: 0 }],
      };
    },
  },
  {
    schema: "FilterResults",
    why: "oneOf [hash32[], Log[]] rejects the empty array, which matches both: anyOf says what is meant",
    patch: (s) => {
      if (s.oneOf) {
        s.anyOf = s.oneOf;
        delete s.oneOf;
      }
    },
  },
];

interface Loaded {
  doc: OpenRpcDocument;
  ajv: Ajv2020;
  methods: Map<string, OpenRpcMethod>;
  results: Map<string, ValidateFunction>;
  params: Map<string, ValidateFunction[]>;
  components: Map<string, ValidateFunction>;
}

let loaded: Loaded | undefined;

function load(): Loaded {
  if (loaded) return loaded;
  const path = specPath();
  if (!existsSync(path)) {
    throw new Error(
      `OpenRPC document not found at ${path}: check out ../shared beside the repository or set CHAINKEEP_SPEC`,
    );
  }
  const doc = JSON.parse(readFileSync(path, "utf8")) as OpenRpcDocument;
  // strict: false — the document uses annotation keywords ajv's strict mode rejects (and the
  // `components` container itself is not a JSON Schema keyword).
  for (const t of TOLERANCES) {
    const target = doc.components.schemas[t.schema];
    if (target && typeof target === "object") t.patch(target);
  }
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ $id: SPEC_ID, components: doc.components }, SPEC_ID);
  loaded = {
    doc,
    ajv,
    methods: new Map(doc.methods.map((m) => [m.name, m])),
    results: new Map(),
    params: new Map(),
    components: new Map(),
  };
  return loaded;
}

/** Rewrites document-local `$ref`s (`#/components/…`) to absolute ones under {@link SPEC_ID}. */
function anchored(schema: Schema): Schema {
  return JSON.parse(JSON.stringify(schema), (key, value) =>
    key === "$ref" && typeof value === "string" && value.startsWith("#/") ? `${SPEC_ID}${value}` : value,
  ) as Schema;
}

/** The OpenRPC document (parsed once). */
export function openRpcDocument(): OpenRpcDocument {
  return load().doc;
}

/** True when the spec (or chainkeep's {@link EXTRA_RESULTS}) has a result schema for `method`. */
export function hasResultSchema(method: string): boolean {
  const l = load();
  return l.methods.get(method)?.result !== undefined || method in EXTRA_RESULTS;
}

function format(where: string, errors: ErrorObject[] | null | undefined): string[] {
  const out = (errors ?? []).map((e) => {
    const extra =
      e.keyword === "additionalProperties"
        ? ` (${(e.params as { additionalProperty: string }).additionalProperty})`
        : e.keyword === "enum"
          ? ` (${JSON.stringify((e.params as { allowedValues: unknown }).allowedValues)})`
          : "";
    return `${where}${e.instancePath} ${e.message ?? e.keyword}${extra}`;
  });
  // allErrors plus oneOf branches can produce hundreds of lines; the first ones locate the fault.
  return out.length > 20 ? [...out.slice(0, 20), `… ${out.length - 20} more`] : out;
}

/**
 * Validates `result` against `method`'s result schema. Returns the problems found, one line each
 * (`[]` = valid). A method the spec does not define is a problem too, so typos do not pass.
 */
export function validateResult(method: string, result: unknown): string[] {
  const l = load();
  let validate = l.results.get(method);
  if (!validate) {
    const schema = l.methods.get(method)?.result?.schema ?? EXTRA_RESULTS[method];
    if (schema === undefined) return [`${method}: no result schema in ${specPath()}`];
    validate = l.ajv.compile(anchored(schema));
    l.results.set(method, validate);
  }
  return validate(result) ? [] : format(`${method} result`, validate.errors);
}

/**
 * Validates positional `params` of `method`: no more than the spec lists, every required one
 * present, each present one valid. Returns the problems found (`[]` = valid).
 */
export function validateParams(method: string, params: unknown[]): string[] {
  const l = load();
  const spec = l.methods.get(method);
  if (!spec) return method in EXTRA_RESULTS ? [] : [`${method}: not in ${specPath()}`];
  let validators = l.params.get(method);
  if (!validators) {
    validators = spec.params.map((p) => l.ajv.compile(anchored(p.schema)));
    l.params.set(method, validators);
  }
  const problems: string[] = [];
  if (params.length > spec.params.length)
    problems.push(`${method}: ${params.length} params, the spec lists ${spec.params.length}`);
  spec.params.forEach((p, i) => {
    if (i >= params.length || params[i] === undefined) {
      if (p.required) problems.push(`${method} param ${i} (${p.name}) is required`);
      return;
    }
    const validate = validators[i] as ValidateFunction;
    if (!validate(params[i])) problems.push(...format(`${method} param ${i} (${p.name})`, validate.errors));
  });
  return problems;
}

/** Validates `value` against one of the document's `components.schemas` (e.g. `"Log"`, `"Block"`). */
export function validateComponent(name: string, value: unknown): string[] {
  const l = load();
  if (!(name in l.doc.components.schemas)) return [`no schema ${name} in ${specPath()}`];
  let validate = l.components.get(name);
  if (!validate) {
    validate = l.ajv.compile({ $ref: `${SPEC_ID}#/components/schemas/${name}` });
    l.components.set(name, validate);
  }
  return validate(value) ? [] : format(name, validate.errors);
}

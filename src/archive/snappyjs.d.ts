/** Types of `snappyjs` (pure JavaScript Snappy, raw blocks), which ships none. */
declare module "snappyjs" {
  export function compress(input: Uint8Array): Uint8Array;
  export function uncompress(input: Uint8Array, maxLength?: number): Uint8Array;
}

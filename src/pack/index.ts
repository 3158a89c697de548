export { Packer, type PackerOptions, type PackReport } from "./packer.ts";
export {
  canonicalHeads,
  deleteBundles,
  listSegments,
  mapLimit,
  readSegmentBlocks,
  readSegmentIndex,
  type SegmentBlock,
  type SegmentRef,
  verifySegment,
  writeSegment,
} from "./segments.ts";
export { type ReadBlocksOptions, readBlocks } from "./source.ts";

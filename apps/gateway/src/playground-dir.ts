/**
 * The playground's files, shipped in apps/gateway/playground/. This module sits directly in src/ so
 * the same relative URL holds once bundled into dist/main.mjs (one level below apps/gateway too).
 */
export const PLAYGROUND_DIR = new URL('../playground/', import.meta.url);

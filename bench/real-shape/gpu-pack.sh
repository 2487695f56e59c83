#!/usr/bin/env bash
# Fills DIR with what bench/real-shape/gpu-run.sh needs on a GPU host (called by bench/gpu/pack.sh):
#   real-shape.mjs          the esbuild bundle of bench/src/real-shape.ts (npm run -w bench bundle:real-shape)
#   prefix-cache.mjs        the esbuild bundle of bench/src/prefix-cache.ts (bundle:prefix-cache)
#   *.mjs of packages/model the inference thread's plain-JavaScript entry and every module it imports,
#                           which the bundles start from their own folder (onnxruntime-node stays
#                           external, as in gpu-bench.mjs: both resolve it from the unpacked runtime)
#   export_model.py         the random-weight exporter; the model itself is made on the host, never packed
#   decode.json             bench/results/decode.json, the NFE per token the commit rule comes from
# Usage: bash bench/real-shape/gpu-pack.sh DIR
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIR=${1:?usage: gpu-pack.sh DIR}
mkdir -p "$DIR"

(cd "$ROOT" && npm run --silent -w bench bundle:real-shape -- --outfile="$DIR/real-shape.mjs")
(cd "$ROOT" && npm run --silent -w bench bundle:prefix-cache -- --outfile="$DIR/prefix-cache.mjs")
# All of them: the thread's imports grow (session-core.mjs imports prefix-cache-store.mjs), and a
# list named here went stale once.
cp "$ROOT"/packages/model/src/*.mjs "$DIR/"
cp "$ROOT/bench/real-shape/export_model.py" "$DIR/"
cp "$ROOT/bench/results/decode.json" "$DIR/"

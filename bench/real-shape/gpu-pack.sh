#!/usr/bin/env bash
# Fills DIR with what bench/real-shape/gpu-run.sh needs on a GPU host (called by bench/gpu/pack.sh):
#   real-shape.mjs          the esbuild bundle of bench/src/real-shape.ts (npm run -w bench bundle:real-shape)
#   inference-thread.mjs,   the inference thread's plain-JavaScript entry and its two modules, which the
#   inference-channel.mjs,  bundle starts from its own folder (onnxruntime-node stays external, as in
#   session-core.mjs        gpu-bench.mjs: both resolve it from the unpacked runtime's node_modules)
#   export_model.py         the random-weight exporter; the model itself is made on the host, never packed
#   decode.json             bench/results/decode.json, the NFE per token the commit rule comes from
# Usage: bash bench/real-shape/gpu-pack.sh DIR
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIR=${1:?usage: gpu-pack.sh DIR}
mkdir -p "$DIR"

(cd "$ROOT" && npm run --silent -w bench bundle:real-shape -- --outfile="$DIR/real-shape.mjs")
cp "$ROOT"/packages/model/src/{inference-thread,inference-channel,session-core}.mjs "$DIR/"
cp "$ROOT/bench/real-shape/export_model.py" "$DIR/"
cp "$ROOT/bench/results/decode.json" "$DIR/"

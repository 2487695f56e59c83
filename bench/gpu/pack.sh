#!/usr/bin/env bash
# Packs what an NVIDIA host with Python and CUDA but no Node.js and no internet lacks to run
# bench/gpu/run.sh, into .gpu-pack/ (ignored by git):
#   node.xz           this machine's node binary, xz-compressed
#   runtime.tar.xz    onnxruntime-node's JS, binding and libonnxruntime.so.1 (WebGPU/Dawn inside),
#                     onnxruntime-common, the esbuild bundle of bench/src/gpu-bench.ts, the shipped model
#   libvulkan1_*.deb  Debian's Vulkan loader (amd64), which Dawn needs and the host may lack
#   real-shape/       whatever bench/real-shape/gpu-pack.sh adds, when that hook exists
# Fails when the pack plus the tracked tree (both travel to the device machine) exceed 64 MiB.
# Usage: bash bench/gpu/pack.sh   (from anywhere; GPU_PACK_DIR overrides the output folder)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PACK=${GPU_PACK_DIR:-$ROOT/.gpu-pack}
LIMIT_BYTES=$((64 * 1024 * 1024))
ORT=$ROOT/node_modules/onnxruntime-node
COMMON=$ROOT/node_modules/onnxruntime-common
MODEL=$ROOT/models/jsfunc-mdm

rm -rf "$PACK"
mkdir -p "$PACK"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

echo "pack: node $(node --version) -> node.xz" >&2
xz -T0 -6 -c "$(readlink -f "$(command -v node)")" >"$PACK/node.xz"

runtime=$stage/runtime
binding=bin/napi-v6/linux/x64
mkdir -p "$runtime/node_modules/onnxruntime-node/dist" "$runtime/node_modules/onnxruntime-node/$binding" \
  "$runtime/node_modules/onnxruntime-common/dist" "$runtime/model/eval"
cp "$ORT/package.json" "$runtime/node_modules/onnxruntime-node/"
cp "$ORT"/dist/*.js "$runtime/node_modules/onnxruntime-node/dist/"
cp "$ORT/$binding/libonnxruntime.so.1" "$ORT/$binding/onnxruntime_binding.node" \
  "$runtime/node_modules/onnxruntime-node/$binding/"
cp "$COMMON/package.json" "$runtime/node_modules/onnxruntime-common/"
cp -r "$COMMON/dist/cjs" "$runtime/node_modules/onnxruntime-common/dist/"
cp "$MODEL/dfleet-model.json" "$MODEL/model.onnx" "$MODEL/tokenizer.json" "$runtime/model/"
cp "$MODEL/eval/heldout.jsonl" "$runtime/model/eval/"

echo "pack: npm run -w bench bundle:gpu (esbuild bench/src/gpu-bench.ts) -> gpu-bench.mjs" >&2
# onnxruntime-node stays a real package: its binding is loaded by a computed path.
(cd "$ROOT" && npm run --silent -w bench bundle:gpu -- --outfile="$runtime/gpu-bench.mjs")
tar -C "$stage" -cf - runtime | xz -T0 -6 >"$PACK/runtime.tar.xz"

echo "pack: apt-get download libvulkan1 (amd64)" >&2
lists=$stage/apt-lists
mkdir -p "$lists/partial"
apt_options=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
apt-get "${apt_options[@]}" -qq update >&2
(cd "$PACK" && apt-get "${apt_options[@]}" -qq download libvulkan1 2>/dev/null)

# ---- hook: the LLaDA-8B-shaped benchmark (bench:real-shape) -------------------------------
# When bench/real-shape/gpu-pack.sh exists, it is called with a folder to fill with what
# bench/real-shape/gpu-run.sh needs on the host (see run.sh). It must stay inside the size check.
if [[ -f $ROOT/bench/real-shape/gpu-pack.sh ]]; then
  echo "pack: bench/real-shape/gpu-pack.sh -> real-shape/" >&2
  mkdir -p "$PACK/real-shape"
  bash "$ROOT/bench/real-shape/gpu-pack.sh" "$PACK/real-shape"
fi
# -------------------------------------------------------------------------------------------

pack_bytes=$(du -sb "$PACK" | cut -f1)
tree_bytes=$(cd "$ROOT" && git ls-files -z | xargs -0 stat -c %s 2>/dev/null |
  awk '{ total += $1 } END { print total }')
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
(cd "$PACK" && du -b -- * | sort -rn | awk '{ printf "  %7.1f MiB  %s\n", $1 / 1048576, $2 }')
echo "pack: $(mib "$pack_bytes") in $PACK;" \
  "with the tracked tree ($(mib "$tree_bytes")): $(mib $((pack_bytes + tree_bytes))) of 64 MiB"
if ((pack_bytes + tree_bytes > LIMIT_BYTES)); then
  echo "pack: over the 64 MiB a device run may carry" >&2
  exit 1
fi

#!/usr/bin/env bash
# Runs bench:real-shape on a GPU host from what gpu-pack.sh packed (called by bench/gpu/run.sh):
# copies the bundle next to the unpacked runtime (so onnxruntime-node resolves from its node_modules),
# exports the random-weight model once with the host's python3 (torch, onnx), then runs each device
# in DEVICES in turn, writing RESULTS/real-shape-<device>/real-shape.json and printing its table.
# Each device gets an equal share of what is left of GPU_REAL_SHAPE_SECONDS (run.sh passes what its
# budget leaves; default 230 s); the first one's share also pays for the export and the reductions
# (cached under the OS temp dir, so a later device reuses them).
# Usage: NODE=... [DFLEET_REAL_SHAPE_SIZE=gpu-80g|cpu-smoke] bash gpu-run.sh PACK_DIR RESULTS_DIR DEVICES
set -uo pipefail

PACK=${1:?usage: gpu-run.sh PACK_DIR RESULTS_DIR DEVICES}
RESULTS=${2:?usage: gpu-run.sh PACK_DIR RESULTS_DIR DEVICES}
DEVICES=${3:?usage: gpu-run.sh PACK_DIR RESULTS_DIR DEVICES}
NODE=${NODE:?NODE must name the node binary (bench/gpu/run.sh sets it)}
# run.sh unpacks node into WORK/bin and the runtime (with node_modules) into WORK/runtime.
RUNTIME=${GPU_RUNTIME_DIR:-$(dirname "$NODE")/../runtime}
PYTHON=${DFLEET_REAL_SHAPE_PYTHON:-$(command -v python3)}
BUDGET=${GPU_REAL_SHAPE_SECONDS:-230}
started=$SECONDS
say() { echo "real-shape: $*" >&2; }

# Sizes: gpu-80g for an 80-140 GB GPU and a host with 128 GiB of RAM. Its ONNX stays under protobuf's
# 2 GB (export_model.py writes no external data): d_model 1024 and 4 layers are 0.31B parameters,
# 1.26 GB, of which the 126,464-token embedding and LM head are 1.04 GB. The v1 logits form at batch 32
# is [32, 528, 126464] float32, 8.5 GB a pass (real-shape.ts skips a form the host RAM cannot hold).
case ${DFLEET_REAL_SHAPE_SIZE:-gpu-80g} in
  gpu-80g) size=(--layers 4 --d-model 1024 --batches 1,8,32 --all-l-batches 1,8 --blocks 1) ;;
  cpu-smoke) size=(--layers 1 --d-model 128 --batches 1 --all-l-batches 1 --blocks 1 --ceiling-runs 1) ;;
  *)
    say "unknown DFLEET_REAL_SHAPE_SIZE=${DFLEET_REAL_SHAPE_SIZE} (gpu-80g, cpu-smoke)"
    exit 2
    ;;
esac
[[ -x $PYTHON ]] || {
  say "no python3 on PATH (the export needs torch and onnx)"
  exit 2
}

stage=$RUNTIME/real-shape
mkdir -p "$stage" "$RESULTS"
cp "$PACK"/*.mjs "$PACK/export_model.py" "$PACK/decode.json" "$stage/"
say "size ${DFLEET_REAL_SHAPE_SIZE:-gpu-80g}: ${size[*]}; python $PYTHON; devices $DEVICES; budget ${BUDGET} s"

IFS=, read -ra devices <<<"$DEVICES"
status=0
for i in "${!devices[@]}"; do
  device=${devices[$i]}
  left=$((BUDGET - (SECONDS - started)))
  share=$((left / (${#devices[@]} - i)))
  if ((share < 10)); then
    say "$device: skipped, ${left} s left"
    status=124
    continue
  fi
  out=$RESULTS/real-shape-${device//:/-}
  say "$device: timeout ${share} s -> $out"
  timeout --kill-after=5 "$share" "$NODE" "$stage/real-shape.mjs" "${size[@]}" --device "$device" \
    --python "$PYTHON" --export-script "$stage/export_model.py" --decode-json "$stage/decode.json" \
    --out "$out" 2>&1 | tee "$out.log" >&2
  code=${PIPESTATUS[0]}
  # The table is everything after the device line real-shape.ts prints before it.
  if ((code == 0)); then
    sed -n '/^device /,$p' "$out.log"
  else
    echo "device $device: exit $code (124 = timed out); the rows it finished ($out.log):"
    grep -E '^(\{"form"|ceiling b)' "$out.log"
    status=$code
  fi
  echo
done
exit "$status"

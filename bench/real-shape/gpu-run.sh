#!/usr/bin/env bash
# Runs bench:real-shape and bench:prefix-cache on a GPU host from what gpu-pack.sh packed (called by
# bench/gpu/run.sh): copies the bundles next to the unpacked runtime (so onnxruntime-node resolves
# from its node_modules), exports the random-weight model (with its prefix-cache form) once with the
# host's python3 (torch, onnx), then runs each device in DEVICES in turn, writing
# RESULTS/real-shape-<device>/real-shape.json and RESULTS/prefix-cache-<device>/prefix-cache.json and
# printing their tables. Each device gets an equal share of what is left of GPU_REAL_SHAPE_SECONDS
# (run.sh passes what its budget leaves; default 230 s), three fifths of it for bench:real-shape and
# the rest for bench:prefix-cache on the same model; the first one's share also pays for the export
# and the reductions (cached under the OS temp dir, so the later runs reuse them).
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
# bench:prefix-cache runs the same model (its export is shared) at the issue's prompt lengths.
  gpu-80g)
    size=(--layers 4 --d-model 1024 --batches 1,8,32 --all-l-batches 1,8 --blocks 1)
    cache_size=(--layers 4 --d-model 1024 --prompts 128,1024,4096 --batch 1)
    ;;
  cpu-smoke)
    size=(--layers 1 --d-model 128 --batches 1 --all-l-batches 1 --blocks 1 --ceiling-runs 1)
    cache_size=(--layers 1 --d-model 128 --prompts 128 --batch 1 --blocks 1)
    ;;
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
  device_started=$SECONDS
  for bench in real-shape prefix-cache; do
    if [[ $bench == real-shape ]]; then
      timeout_s=$((share * 3 / 5))
      args=("${size[@]}")
    else
      timeout_s=$((share - (SECONDS - device_started)))
      args=("${cache_size[@]}")
    fi
    out=$RESULTS/$bench-${device//:/-}
    if ((timeout_s < 10)); then
      say "$device: $bench skipped, ${timeout_s} s left of its share"
      status=124
      continue
    fi
    say "$device: $bench, timeout ${timeout_s} s -> $out"
    timeout --kill-after=5 "$timeout_s" "$NODE" "$stage/$bench.mjs" "${args[@]}" --device "$device" \
      --python "$PYTHON" --export-script "$stage/export_model.py" --decode-json "$stage/decode.json" \
      --out "$out" 2>&1 | tee "$out.log" >&2
    code=${PIPESTATUS[0]}
    # The table is everything after the device line each bench prints before it.
    if ((code == 0)); then
      sed -n '/^device /,$p' "$out.log"
    else
      echo "$bench on $device: exit $code (124 = timed out); the rows it finished ($out.log):"
      grep -E '^(\{"form"|\{"prompt"|ceiling b)' "$out.log"
      status=$code
    fi
    echo
  done
done
exit "$status"

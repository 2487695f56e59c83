#!/usr/bin/env bash
# Runs the GPU benchmark on an NVIDIA host that has Python and CUDA but no Node.js and no
# internet, from what bench/gpu/pack.sh put in .gpu-pack/:
#   1. unpacks node and the runtime (onnxruntime-node, the bundled benchmark, the shipped model);
#   2. makes the Vulkan loader available: the host's own when ldconfig knows one, else the packed
#      libvulkan1 .deb unpacked into the work folder (LD_LIBRARY_PATH; nothing is written to /);
#      points VK_DRIVER_FILES at the NVIDIA ICD when it is unset and one is found;
#   3. lists the GPUs (nvidia-smi) and the Vulkan adapters (list_vulkan_adapters.py);
#   4. runs the shipped model's decode on each device of DFLEET_GPU_BENCH_DEVICES (webgpu,cpu):
#      StepScheduler over OnnxDenoiser, held-out prompts, batch 1/8/32, threshold strategy;
#   5. runs bench:real-shape and bench:prefix-cache at an 80-140 GB GPU's size when the pack holds their hook;
#   then prints one table. Everything is bounded by `timeout` to GPU_BENCH_SECONDS (450 s).
# Device tool: run `bash bench/gpu/run.sh` with carry [".gpu-pack"]; results land in $OUT.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/bench/gpu
PACK=${GPU_PACK_DIR:-$ROOT/.gpu-pack}
WORK=${GPU_BENCH_WORK:-$(mktemp -d /tmp/dfleet-gpu.XXXXXX)}
RESULTS=${OUT:-$WORK/results}
DEVICES=${DFLEET_GPU_BENCH_DEVICES:-webgpu,cpu}
BUDGET=${GPU_BENCH_SECONDS:-450}
started=$SECONDS
remaining() { echo $((BUDGET - (SECONDS - started))); }
say() { echo "gpu-bench: $*" >&2; }

[[ -f $PACK/node.xz && -f $PACK/runtime.tar.xz ]] || {
  say "no pack in $PACK: run bash bench/gpu/pack.sh first (on a machine with Node and the repo)"
  exit 2
}
mkdir -p "$WORK/bin" "$RESULTS"
xz -dc "$PACK/node.xz" >"$WORK/bin/node" && chmod +x "$WORK/bin/node"
tar -C "$WORK" -xJf "$PACK/runtime.tar.xz"
NODE=$WORK/bin/node
export PATH=$WORK/bin:$PATH
say "node $("$NODE" --version) unpacked in $WORK ($((SECONDS - started)) s)"

if ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
  say "Vulkan loader: the host's ($(ldconfig -p | grep -m1 'libvulkan\.so\.1 ' | sed 's/.*=> //'))"
else
  deb=$(ls "$PACK"/libvulkan1_*.deb 2>/dev/null | head -1)
  if [[ -n $deb ]]; then
    dpkg -x "$deb" "$WORK/vulkan"
    export LD_LIBRARY_PATH=$WORK/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    say "Vulkan loader: $(basename "$deb"), unpacked into $WORK/vulkan"
  else
    say "Vulkan loader: none on the host and none in the pack; webgpu will report vulkan_loader_missing"
  fi
fi
if [[ -z ${VK_DRIVER_FILES:-} ]]; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
    /etc/vulkan/icd.d/nvidia_icd.json; do
    if [[ -f $icd ]]; then
      export VK_DRIVER_FILES=$icd
      break
    fi
  done
fi
say "VK_DRIVER_FILES=${VK_DRIVER_FILES:-<unset: the loader searches its default folders>}"

{
  echo "## GPUs"
  timeout 20 nvidia-smi -L 2>&1 || echo "nvidia-smi: not available"
  echo "## Vulkan adapters"
  timeout 20 python3 "$HERE/list_vulkan_adapters.py" 2>&1 || true
} | tee "$RESULTS/adapters.txt" >&2

# ---- hook: the LLaDA-8B-shaped benchmark (bench:real-shape) -------------------------------
# When the pack holds real-shape/ (from bench/real-shape/gpu-pack.sh) and the tree has
# bench/real-shape/gpu-run.sh, that script runs with: NODE, the pack folder, the results folder,
# the devices, and DFLEET_REAL_SHAPE_SIZE (default gpu-80g, a size for an 80-140 GB GPU;
# cpu-smoke for a try on a small CPU host). It prints its own rows; it gets what is left of the
# budget after the shipped model's decode (at most 240 s).
real_shape=
if [[ -d $PACK/real-shape && -f $ROOT/bench/real-shape/gpu-run.sh ]]; then real_shape=yes; fi
# -------------------------------------------------------------------------------------------

decode_budget=$(remaining)
if [[ -n $real_shape ]]; then decode_budget=$((decode_budget < 200 ? decode_budget : 200)); fi
say "shipped model decode on $DEVICES (timeout ${decode_budget} s)"
timeout --kill-after=10 "$decode_budget" "$NODE" "$WORK/runtime/gpu-bench.mjs" --model "$WORK/runtime/model" \
  --devices "$DEVICES" --out "$RESULTS/gpu-bench.json" >"$RESULTS/gpu-bench.md" 2> >(tee "$RESULTS/gpu-bench.log" >&2)
decode_status=$?

real_shape_status=skipped
if [[ -n $real_shape ]]; then
  budget=$(($(remaining) - 10))
  real_shape_size=${DFLEET_REAL_SHAPE_SIZE:-gpu-80g}
  say "bench:real-shape (DFLEET_REAL_SHAPE_SIZE=${real_shape_size}, timeout ${budget} s)"
  NODE=$NODE DFLEET_REAL_SHAPE_SIZE=$real_shape_size GPU_REAL_SHAPE_SECONDS=$((budget - 5)) \
    timeout --kill-after=10 "$budget" \
    bash "$ROOT/bench/real-shape/gpu-run.sh" "$PACK/real-shape" "$RESULTS" "$DEVICES" >"$RESULTS/real-shape.md"
  real_shape_status=$?
fi

echo
cat "$RESULTS/gpu-bench.md"
if [[ -s $RESULTS/real-shape.md ]]; then
  echo
  echo "bench:real-shape (${real_shape_size}):"
  cat "$RESULTS/real-shape.md"
fi
echo
echo "decode exit ${decode_status} (124 = timed out), real-shape ${real_shape_status}, $((SECONDS - started)) s in all"
[[ $decode_status -eq 0 ]]

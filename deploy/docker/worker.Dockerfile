# syntax=docker/dockerfile:1
# The worker image, compiled JavaScript (npm run bundle) on plain node, in two variants (targets):
#   docker build -f deploy/docker/worker.Dockerfile --target webgpu -t dfleet-worker:webgpu .
#       onnxruntime-node's bundled WebGPU provider (Dawn on Vulkan): needs only the Vulkan loader
#       here and the driver's Vulkan ICD from the host (NVIDIA container toolkit with the
#       `graphics` capability). Also the CPU worker: DFLEET_DEVICE=cpu.
#   docker build -f deploy/docker/worker.Dockerfile --target cuda -t dfleet-worker:cuda .
#       onnxruntime-node's CUDA provider on NVIDIA's CUDA 12 + cuDNN 9 runtime; its provider
#       libraries are downloaded from NuGet while building (the build host must reach it).
# Pinned by version; pin by digest in your own registry.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim
# The npm of package.json's packageManager: older ones ignore its allowScripts.
ARG NPM_VERSION=11.19.1
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

FROM ${NODE_IMAGE} AS build
ARG NPM_VERSION
RUN npm install -g npm@${NPM_VERSION} --no-audit --no-fund
WORKDIR /src
COPY . .
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund \
 && npm run bundle -- worker \
 && node --import tsx tools/deploy/src/stage-app.ts worker /stage

# Production dependencies with onnxruntime-node's CPU binary (it carries the WebGPU provider too).
FROM ${NODE_IMAGE} AS deps
ARG NPM_VERSION
RUN npm install -g npm@${NPM_VERSION} --no-audit --no-fund
WORKDIR /app
COPY --from=build /stage/ ./
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --workspace @dfleet/worker --no-audit --no-fund \
 && rm -rf node_modules/onnxruntime-node/bin/napi-v*/darwin node_modules/onnxruntime-node/bin/napi-v*/win32 \
 && npm cache clean --force

# The same, plus the CUDA provider libraries the package's install script fetches.
FROM deps AS deps-cuda
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install

FROM ${CUDA_IMAGE} AS cuda
COPY --from=deps-cuda /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=deps-cuda /app/ ./
ENV NODE_ENV=production \
    DFLEET_DEVICE=cuda:0 \
    DFLEET_PROBE_PORT=9090
# uid 1000 is the CUDA image's `ubuntu` user; by number so that runAsNonRoot can check it.
USER 1000:1000
EXPOSE 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.DFLEET_PROBE_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--enable-source-maps", "apps/worker/dist/main.mjs"]

# Last, so a build without --target gets the image that also runs on CPU.
FROM ${NODE_IMAGE} AS webgpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvulkan1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=deps /app/ ./
# `graphics` makes the NVIDIA container toolkit mount the driver's Vulkan ICD (nvidia_icd.json).
ENV NODE_ENV=production \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics \
    DFLEET_DEVICE=webgpu \
    DFLEET_PROBE_PORT=9090
# The node image's `node` user, by number so that runAsNonRoot can check it.
USER 1000:1000
EXPOSE 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.DFLEET_PROBE_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--enable-source-maps", "apps/worker/dist/main.mjs"]

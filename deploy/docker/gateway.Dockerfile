# syntax=docker/dockerfile:1
# The gateway image: compiled JavaScript (npm run bundle) on plain node, production dependencies only.
#   docker build -f deploy/docker/gateway.Dockerfile -t dfleet-gateway .        (from the repository root)
# It binds 0.0.0.0, so it refuses to start without DFLEET_API_KEYS_FILE (mount the keys file) or an
# explicit DFLEET_AUTH=off.
# Pinned by version; pin by digest (node:...@sha256:...) in your own registry.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim
# The npm of package.json's packageManager: older ones ignore its allowScripts.
ARG NPM_VERSION=11.19.1

FROM ${NODE_IMAGE} AS build
ARG NPM_VERSION
RUN npm install -g npm@${NPM_VERSION} --no-audit --no-fund
WORKDIR /src
COPY . .
# No dependency install script runs (package.json allowScripts); the variable covers an npm that ignores it.
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund \
 && npm run bundle -- gateway \
 && node --import tsx tools/deploy/src/stage-app.ts gateway /stage

FROM ${NODE_IMAGE} AS runtime
ARG NPM_VERSION
RUN npm install -g npm@${NPM_VERSION} --no-audit --no-fund
ENV NODE_ENV=production \
    DFLEET_HOST=0.0.0.0
WORKDIR /app
COPY --from=build /stage/ ./
# The gateway loads @dfleet/model (tokenizer, manifest), which depends on onnxruntime-node: keep
# its Linux binaries only.
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --workspace @dfleet/gateway --no-audit --no-fund \
 && rm -rf node_modules/onnxruntime-node/bin/napi-v*/darwin node_modules/onnxruntime-node/bin/napi-v*/win32 \
 && npm cache clean --force
# The node image's `node` user, by number so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
EXPOSE 8080 50051 50052
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.DFLEET_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--enable-source-maps", "apps/gateway/dist/main.mjs"]

# Image for the Docker Hub for Bitbucket add-on. docs/container.md explains how
# to build and run it, and scripts/container-check.sh builds and checks it.

# Both stages use the same base so that the sqlite3 addon compiled in the build
# stage matches the Node.js and glibc versions of the runtime stage.
ARG BASE_IMAGE=node:20-bookworm-slim

FROM ${BASE_IMAGE} AS build

# node-gyp compiles sqlite3 from source (.npmrc sets build-from-source), so it
# needs python3, make and g++. Slim images lack them, so install what is missing.
RUN if ! command -v python3 >/dev/null || ! command -v make >/dev/null || ! command -v g++ >/dev/null; then \
      apt-get update \
      && apt-get install -y --no-install-recommends python3 make g++ \
      && rm -rf /var/lib/apt/lists/*; \
    fi

WORKDIR /app

# Registry URL for npm ci. Empty means npm's default registry.
ARG NPM_REGISTRY=""

# Copy the manifests first so that the dependency layer is rebuilt only when they change.
COPY package.json package-lock.json .npmrc ./

# Point node-gyp at the headers that ship with this Node.js, when present, so
# that it does not download them from nodejs.org. The optional build secret
# npm_ca holds extra CA certificates (PEM) for a TLS-inspecting proxy in front
# of the registry, and stays out of the image's layers.
RUN --mount=type=secret,id=npm_ca \
    node_prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")" \
    && if [ -f "$node_prefix/include/node/node.h" ]; then export npm_config_nodedir="$node_prefix"; fi \
    && if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi \
    && npm ci --no-audit --no-fund ${NPM_REGISTRY:+--registry="$NPM_REGISTRY"}

COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# Drop the dev dependencies but keep the sqlite3 addon compiled above. node-gyp's
# object files (build/Release/obj*, about 18 MB for sqlite3) are only needed to relink.
RUN npm prune --omit=dev --no-audit --no-fund \
    && find node_modules -type d -path '*/build/Release/obj*' -prune -exec rm -rf {} +


FROM ${BASE_IMAGE} AS runtime

ENV NODE_ENV=production
WORKDIR /app

# A fixed numeric uid lets orchestrators check runAsNonRoot without a passwd lookup.
# data/ is the only writable folder because it holds the default sqlite file.
RUN groupadd --system --gid 10001 addon \
    && useradd --system --uid 10001 --gid addon --home-dir /app --no-create-home --shell /usr/sbin/nologin addon \
    && mkdir -p /app/data \
    && chown addon:addon /app/data

# The application files stay owned by root, so the add-on cannot modify its own code.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json atlassian-connect.json ./
COPY views ./views
COPY public ./public
COPY scripts/container/healthcheck.cjs ./scripts/container/healthcheck.cjs

USER 10001:10001

EXPOSE 3000

# Runs GET /healthz on $PORT (default 3000) with Node, because slim images have no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "scripts/container/healthcheck.cjs"]

# Node.js runs as PID 1 directly, so SIGTERM reaches the add-on's own graceful shutdown.
# The heap cap matches npm start: without it V8 keeps far more heap reserved than the
# add-on's live objects need (docs/benchmarks.md, memory benchmark).
CMD ["node", "--max-old-space-size=256", "dist/src/server.js"]

#!/usr/bin/env bash
# Prints one SHA-256 over every file that decides what the container image is:
# the Dockerfile, what the build copies in, the dependency manifests and the
# check script itself. .ci/run compares it with verified-inputs.sha256 to decide
# whether the slow container check must run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
files=(Dockerfile .dockerignore .npmrc package.json package-lock.json tsconfig.json
  scripts/container-check.sh scripts/container/healthcheck.cjs)
sha256sum "${files[@]}" | sha256sum | cut -d' ' -f1

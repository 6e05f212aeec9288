#!/usr/bin/env bash
# Prints one SHA-256 over everything that decides what the container image is:
# the Dockerfile, what the build copies in, the dependencies and the check script
# itself. .ci/run compares it with verified-inputs.sha256 to decide whether the
# slow container check must run. Of package.json only the parts the image build
# reads count, so that adding a developer script does not force a new check.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
files=(Dockerfile .dockerignore .npmrc package-lock.json tsconfig.json
  scripts/container-check.sh scripts/container/healthcheck.cjs)
{
  sha256sum "${files[@]}"
  node -e '
    const manifest = require("./package.json");
    const { dependencies, devDependencies, engines } = manifest;
    const { build, start } = manifest.scripts;
    process.stdout.write(JSON.stringify({ dependencies, devDependencies, engines, build, start }));
  ' | sha256sum
} | sha256sum | cut -d' ' -f1

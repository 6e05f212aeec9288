#!/usr/bin/env bash
# Runs the container check and, when it passes, records the hash of its inputs in
# verified-inputs.sha256, so that CI skips the check until one of them changes.
# Commit the updated file together with the change that needed the check.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bash scripts/container-check.sh "$@"
bash scripts/container/inputs-hash.sh > scripts/container/verified-inputs.sha256
echo "Recorded $(cat scripts/container/verified-inputs.sha256) in scripts/container/verified-inputs.sha256"

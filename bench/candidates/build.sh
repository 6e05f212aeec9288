#!/usr/bin/env bash
# Builds a copy of the add-on with a patch to src/ applied, so that the benchmarks
# can compare it with the current build without touching this working tree:
#
#   bench/candidates/build.sh /tmp/my-change.patch /tmp/addon-candidate
#   BENCH_ADDON_ROOT=/tmp/addon-candidate BENCH_RESULT_SUFFIX=candidate npm run bench:throughput
#
# The copy gets src/, views/, public/, the descriptor and package.json, a symlink
# to this project's node_modules, and a tsconfig.json that compiles src/ only.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "Usage: $0 PATCH [TARGET_DIR]" >&2
  exit 2
fi
patch_file=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${2:-$(mktemp -d -t addon-candidate-XXXXXX)}
if [[ "$(realpath -m "$target")" == "$root" ]]; then
  echo "Invalid TARGET_DIR $target: it must not be the project itself" >&2
  exit 2
fi

mkdir -p "$target"
rm -rf "$target/src" "$target/dist" "$target/views" "$target/public"
cp -r "$root/src" "$root/views" "$root/public" "$root/atlassian-connect.json" "$root/package.json" "$target/"
ln -sfn "$root/node_modules" "$target/node_modules"
node -e '
  const fs = require("fs");
  const config = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  config.include = ["src/**/*.ts"];
  fs.writeFileSync(process.argv[2], JSON.stringify(config, null, 2));
' "$root/tsconfig.json" "$target/tsconfig.json"

(cd "$target" && patch -p1 --quiet --no-backup-if-mismatch < "$patch_file")
# The benchmarks copy this line into their results (addonRevision), as the copy is no Git work tree.
src_modified=$([[ -n "$(git -C "$root" status --porcelain -- src)" ]] && echo true || echo false)
printf '{"commit":"%s","srcModified":%s,"patch":"%s"}\n' "$(git -C "$root" rev-parse HEAD)" "$src_modified" "$(basename "$patch_file")" > "$target/candidate.json"
"$root/node_modules/.bin/tsc" -p "$target/tsconfig.json"
echo "Built $target with $(basename "$patch_file")"

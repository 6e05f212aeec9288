#!/usr/bin/env bash
# Builds the add-on's container image from ./Dockerfile with podman and checks
# that the image's server starts, returns 200 {"status":"ok"} on /healthz, runs
# as a non-root user and stops cleanly on SIGTERM.
#
# It needs root on Debian 12 (bookworm), and installs podman, buildah,
# debootstrap and curl with apt-get when they are missing. No container
# registry is used: the base image is made here from Debian packages plus this
# host's Node.js (docs/container.md explains why). The build reaches only the
# npm registry and the Debian mirror.
#
# Usage: scripts/container-check.sh [--cold | --purge]
#   (none)   build and check; reuse the base image and build layers of earlier runs
#   --cold   remove the cached base image and build layers first, then build and check
#   --purge  remove every image this script made, then exit
#
# Environment:
#   DEBIAN_MIRROR  Debian mirror URL for debootstrap (default: debootstrap's own default)
#   TMPDIR         parent folder of the temporary work folder (default /var/tmp)
set -Eeuo pipefail

PROJECT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly PROJECT_ROOT
readonly APP_IMAGE=localhost/docker-hub-for-bitbucket:container-check
readonly BASE_REPOSITORY=localhost/docker-hub-for-bitbucket-base
readonly CONTAINER_NAME=docker-hub-for-bitbucket-container-check
# Set on the base image, so every image built from it (final and intermediate)
# carries it too. The script removes only images with this label.
readonly OWNER_LABEL=docker-hub-for-bitbucket.container-check=true
readonly DEBIAN_SUITE=bookworm
readonly DEBIAN_MIRROR="${DEBIAN_MIRROR:-}"
# Minimum Node.js version, from the engines field of package.json.
readonly MIN_NODE_VERSION=20.17.0
readonly HEALTH_MAX_TRIES=60
readonly HEALTH_REQUEST_TIMEOUT_S=2
readonly STOP_TIMEOUT_S=15
readonly LOCK_FILE=/var/lock/docker-hub-for-bitbucket-container-check.lock

SCRIPT_START=$(date +%s.%N)
WORK_DIR=""
SERVER_PID=""
STEP_REPORT=()

log() {
  printf '[container-check %s] %s\n' "$(date +%H:%M:%S)" "$*"
}

fail() {
  printf '[container-check] FAILED: %s\n' "$*" >&2
  exit 1
}

on_error() {
  printf '[container-check] FAILED: command exited with status %s at line %s: %s\n' "$1" "$2" "$3" >&2
}
trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR

elapsed_since() {
  awk -v start="$1" -v end="$(date +%s.%N)" 'BEGIN { printf "%.1f", end - start }'
}

# Runs "$@" and records its duration under the label $1.
timed() {
  local label=$1
  shift
  local start
  start=$(date +%s.%N)
  "$@"
  local seconds
  seconds=$(elapsed_since "$start")
  STEP_REPORT+=("$(printf '%-44s %7s s' "$label" "$seconds")")
  log "$label: done in $seconds s"
}

# Prints the last lines of a log file to stderr, for a failure message.
show_log_tail() {
  local file=$1
  if [[ -s $file ]]; then
    printf -- '--- last 40 lines of %s ---\n' "$(basename "$file")" >&2
    tail -n 40 "$file" >&2
    printf -- '---\n' >&2
  fi
}

# Prints the ids of all descendants of process $1, read from /proc.
descendant_pids() {
  local parent=$1 stat_file pid stat fields
  local -A children=()
  for stat_file in /proc/[0-9]*/stat; do
    read -r stat <"$stat_file" 2>/dev/null || continue
    pid=${stat_file#/proc/}
    pid=${pid%/stat}
    # Field 2 (comm) may contain spaces, so split after its closing parenthesis.
    # The state follows it, then the parent id.
    read -r -a fields <<<"${stat##*) }"
    children[${fields[1]}]+="$pid "
  done
  local queue=("$parent") current child
  while ((${#queue[@]} > 0)); do
    current=${queue[0]}
    queue=("${queue[@]:1}")
    for child in ${children[$current]:-}; do
      echo "$child"
      queue+=("$child")
    done
  done
}

# Stops the server started by this script with SIGKILL. The innermost process
# goes first and buildah gets a few seconds to exit on its own, because buildah
# leaves its run folder in /var/tmp behind when it is killed itself.
kill_server() {
  [[ -n $SERVER_PID ]] || return 0
  local descendants waited pid
  mapfile -t descendants < <(descendant_pids "$SERVER_PID")
  # descendant_pids lists the tree level by level, so the last entry is the innermost process.
  if ((${#descendants[@]} > 0)); then
    kill -KILL "${descendants[-1]}" 2>/dev/null || true
  fi
  for ((waited = 0; waited < 5; waited++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 1
  done
  for pid in $(descendant_pids "$SERVER_PID") "$SERVER_PID"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

remove_work_container() {
  if buildah containers --format '{{.ContainerName}}' | grep -Fxq "$CONTAINER_NAME"; then
    buildah rm "$CONTAINER_NAME" >/dev/null
  fi
}

cleanup() {
  local status=$?
  trap - ERR
  set +e
  kill_server
  if command -v buildah >/dev/null; then
    remove_work_container
  fi
  if command -v podman >/dev/null && podman image exists "$APP_IMAGE" 2>/dev/null; then
    podman rmi "$APP_IMAGE" >/dev/null
  fi
  if [[ -n $WORK_DIR && -d $WORK_DIR ]]; then
    # debootstrap mounts /proc and /sys inside the rootfs while it runs. If it
    # was interrupted, unmount them before deleting, and never cross into them.
    local mount_point
    awk -v dir="$WORK_DIR/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r |
      while read -r mount_point; do
        umount --lazy "$mount_point"
      done
    rm -rf --one-file-system "$WORK_DIR"
  fi
  if ((status != 0)); then
    log "stopped after $(elapsed_since "$SCRIPT_START") s with exit status $status"
  fi
  exit "$status"
}

require_root() {
  if ((EUID != 0)); then
    fail "run this script as root: podman with chroot isolation and debootstrap need root"
  fi
}

install_missing_tools() {
  local missing=() tool
  for tool in podman buildah debootstrap curl; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  if ((${#missing[@]} == 0)); then
    log "podman, buildah, debootstrap and curl are installed"
    return 0
  fi
  command -v apt-get >/dev/null || fail "missing ${missing[*]}, and apt-get is not available to install them"
  log "installing with apt-get: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Sets NODE_PREFIX and NODE_VERSION from the host's node, after checking the version
# and that the headers and npm are under the same prefix.
find_host_node() {
  local node_path
  node_path=$(command -v node) || fail "node not found on PATH: the base image copies the host's Node.js >= $MIN_NODE_VERSION"
  node_path=$(readlink -f "$node_path")
  NODE_VERSION=$(node -p 'process.versions.node')
  if [[ $(printf '%s\n%s\n' "$MIN_NODE_VERSION" "$NODE_VERSION" | sort -V | head -n 1) != "$MIN_NODE_VERSION" ]]; then
    fail "host Node.js is $NODE_VERSION, but package.json requires >= $MIN_NODE_VERSION"
  fi
  NODE_PREFIX=$(dirname "$(dirname "$node_path")")
  [[ -f $NODE_PREFIX/include/node/node.h ]] ||
    fail "Node.js headers not found at $NODE_PREFIX/include/node: node-gyp needs them to build sqlite3 offline"
  [[ -f $NODE_PREFIX/lib/node_modules/npm/bin/npm-cli.js ]] ||
    fail "npm not found at $NODE_PREFIX/lib/node_modules/npm"
  log "host Node.js $NODE_VERSION from $node_path"
}

# Writes the only containers.conf that podman and buildah read in this script,
# so that they ignore the system's files and set no default ulimits.
# NOTE: with podman 4.3.1 on Debian 12, the build and run also worked without it.
write_containers_conf() {
  cat >"$WORK_DIR/containers.conf" <<'EOF'
[containers]
default_ulimits = []
EOF
  export CONTAINERS_CONF="$WORK_DIR/containers.conf"
}

# Removes the images with this script's label, except the ids given as
# arguments (full ids or the 11-character prefixes that podman build prints).
# Newest go first, because an image can only be removed after the images built
# on top of it.
remove_owned_images() {
  local keep=" $* " id ids=()
  while read -r id; do
    [[ $keep == *" $id "* || $keep == *" ${id:0:11} "* ]] || ids+=("$id")
  done < <(podman images --all --quiet --no-trunc --sort created --filter "label=$OWNER_LABEL" |
    sed 's/^sha256://' | tac | awk '!seen[$0]++')
  if ((${#ids[@]} == 0)); then
    log "no images of this script to remove"
    return 0
  fi
  log "removing ${#ids[@]} images labelled $OWNER_LABEL"
  podman rmi --force "${ids[@]}" >/dev/null
}

# Removes the cached layers of earlier builds, which podman keeps as untagged
# images, and keeps the base image and the layers that the last build used.
remove_stale_layers() {
  local used_ids
  used_ids=$(sed -n 's/^--> \(Using cache \)\{0,1\}\([0-9a-f]\{11,64\}\)$/\2/p' "$WORK_DIR/build.log")
  # shellcheck disable=SC2086 # one id per word
  remove_owned_images "$(podman image inspect --format '{{.Id}}' "$BASE_IMAGE")" $used_ids
}

# Makes the local base image: a minimal Debian rootfs from debootstrap with the
# host's Node.js, npm and Node headers under /usr/local, the layout of the
# official node images.
build_base_image() {
  local rootfs=$WORK_DIR/rootfs
  local mirror_label=${DEBIAN_MIRROR:-the default mirror of debootstrap}
  log "debootstrap $DEBIAN_SUITE (minbase) from $mirror_label"
  if ! debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"} \
    >"$WORK_DIR/debootstrap.log" 2>&1; then
    show_log_tail "$WORK_DIR/debootstrap.log"
    fail "debootstrap of $DEBIAN_SUITE from $mirror_label failed"
  fi

  log "copying Node.js $NODE_VERSION from $NODE_PREFIX into the rootfs"
  install -D -m 0755 "$NODE_PREFIX/bin/node" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/include" "$rootfs/usr/local/lib/node_modules"
  cp -a "$NODE_PREFIX/include/node" "$rootfs/usr/local/include/"
  cp -a "$NODE_PREFIX/lib/node_modules/npm" "$rootfs/usr/local/lib/node_modules/"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

  local copied_version
  copied_version=$(chroot "$rootfs" /usr/local/bin/node -p 'process.versions.node') ||
    fail "the copied node binary does not run inside the $DEBIAN_SUITE rootfs"
  [[ $copied_version == "$NODE_VERSION" ]] ||
    fail "the copied node reports version $copied_version, expected $NODE_VERSION"

  # Package lists and downloaded packages are not needed in an image.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb

  log "importing the rootfs as $BASE_IMAGE"
  tar --numeric-owner --xattrs -C "$rootfs" -cf - . |
    podman import --quiet \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "LABEL $OWNER_LABEL" \
      --change 'CMD ["node"]' \
      --message "Debian $DEBIAN_SUITE minbase with the host's Node.js $NODE_VERSION" \
      - "$BASE_IMAGE" >/dev/null
  rm -rf --one-file-system "$rootfs"
}

ensure_base_image() {
  if podman image exists "$BASE_IMAGE"; then
    log "reusing base image $BASE_IMAGE"
  else
    build_base_image
  fi
}

# Prints the npm registry that the host's npm uses (from ~/.npmrc, /etc/npmrc or
# NPM_CONFIG_REGISTRY), so that the build stage uses the same one. Prints
# nothing when npm is missing, which leaves npm's default in the build.
host_npm_registry() {
  if command -v npm >/dev/null; then
    (cd / && npm config get registry 2>/dev/null) || true
  fi
}

# Prints the CA file that the host's npm trusts, which is npm's cafile setting or
# else NODE_EXTRA_CA_CERTS. Prints nothing when neither names a readable file.
host_npm_ca_file() {
  local ca_file=""
  if command -v npm >/dev/null; then
    ca_file=$(cd / && npm config get cafile 2>/dev/null) || ca_file=""
  fi
  if [[ -z $ca_file || $ca_file == null || $ca_file == undefined ]]; then
    ca_file=${NODE_EXTRA_CA_CERTS:-}
  fi
  if [[ -n $ca_file && -r $ca_file ]]; then
    echo "$ca_file"
  fi
}

build_app_image() {
  local registry ca_file secret_args=()
  registry=$(host_npm_registry)
  ca_file=$(host_npm_ca_file)
  if [[ -n $ca_file ]]; then
    # The host may reach the registry through a TLS-inspecting proxy, so the
    # build trusts the same CAs as the host's npm.
    secret_args=(--secret "id=npm_ca,src=$ca_file")
  fi
  log "podman build with BASE_IMAGE=$BASE_IMAGE, npm registry ${registry:-(npm default)}, CA file ${ca_file:-none}"
  # --format docker keeps HEALTHCHECK, which the OCI image format has no field
  # for. Chroot isolation allows only the host's network.
  if ! podman build \
    --isolation=chroot \
    --pull=never \
    --network=host \
    --format=docker \
    --layers \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --build-arg "NPM_REGISTRY=$registry" \
    "${secret_args[@]}" \
    --tag "$APP_IMAGE" \
    --file "$PROJECT_ROOT/Dockerfile" \
    "$PROJECT_ROOT" >"$WORK_DIR/build.log" 2>&1; then
    show_log_tail "$WORK_DIR/build.log"
    fail "podman build of $PROJECT_ROOT/Dockerfile failed"
  fi
}

# Prints the elements of the JSON string array $1, each followed by a NUL byte,
# for mapfile -d ''. A JSON null prints nothing.
json_array_to_nul_separated() {
  # shellcheck disable=SC2016 # JavaScript source, not shell
  node -e '
    for (const item of JSON.parse(process.argv[1]) ?? []) {
      process.stdout.write(`${item}\0`);
    }' "$1"
}

# Reads the image's CMD, USER, WORKDIR and HEALTHCHECK into IMAGE_CMD, IMAGE_USER,
# IMAGE_WORKDIR and HEALTHCHECK_CMD, and checks the USER is not root.
inspect_app_image() {
  local cmd_json healthcheck_json
  cmd_json=$(podman image inspect --format '{{json .Config.Cmd}}' "$APP_IMAGE")
  healthcheck_json=$(podman image inspect --format '{{json .Config.Healthcheck.Test}}' "$APP_IMAGE")
  mapfile -d '' -t IMAGE_CMD < <(json_array_to_nul_separated "$cmd_json")
  mapfile -d '' -t HEALTHCHECK_CMD < <(json_array_to_nul_separated "$healthcheck_json")
  IMAGE_USER=$(podman image inspect --format '{{.Config.User}}' "$APP_IMAGE")
  IMAGE_WORKDIR=$(podman image inspect --format '{{.Config.WorkingDir}}' "$APP_IMAGE")

  ((${#IMAGE_CMD[@]} > 0)) || fail "image $APP_IMAGE has no CMD"
  case ${IMAGE_USER%%:*} in
    "" | 0 | root) fail "image $APP_IMAGE runs as root (USER is '${IMAGE_USER}'), expected a non-root user" ;;
  esac
  [[ ${HEALTHCHECK_CMD[0]:-} == CMD ]] ||
    fail "image $APP_IMAGE has no HEALTHCHECK in exec form (found: ${HEALTHCHECK_CMD[*]:-none})"
  HEALTHCHECK_CMD=("${HEALTHCHECK_CMD[@]:1}")
  log "image CMD: ${IMAGE_CMD[*]}; USER: $IMAGE_USER; WORKDIR: $IMAGE_WORKDIR; HEALTHCHECK: ${HEALTHCHECK_CMD[*]}"
}

free_port() {
  node -e '
    const server = require("node:net").createServer();
    server.listen(0, "127.0.0.1", () => {
      console.log(server.address().port);
      server.close();
    });'
}

# Runs a command in the work container with the same settings as the server.
run_in_container() {
  buildah run --isolation chroot --network host "${RUN_ENV[@]}" "$CONTAINER_NAME" -- "$@"
}

start_server() {
  remove_work_container
  buildah from --pull=never --name "$CONTAINER_NAME" "$APP_IMAGE" >/dev/null
  PORT=$(free_port)
  RUN_ENV=(
    --env "PORT=$PORT"
    --env "NODE_ENV=development"
    --env "AC_LOCAL_BASE_URL=http://127.0.0.1:$PORT"
    --env "DATABASE_URL=sqlite:/tmp/container-check.sqlite"
    # The add-on calls hub.docker.com by default. Port 9 (discard) on loopback keeps it on this machine.
    --env "DOCKER_HUB_URL=http://127.0.0.1:9"
  )
  log "starting '${IMAGE_CMD[*]}' in $CONTAINER_NAME on port $PORT"
  buildah run --isolation chroot --network host "${RUN_ENV[@]}" "$CONTAINER_NAME" -- "${IMAGE_CMD[@]}" \
    >"$WORK_DIR/server.log" 2>&1 &
  SERVER_PID=$!
}

wait_for_healthz() {
  local url="http://127.0.0.1:$PORT/healthz" try status="" exit_status
  for ((try = 1; try <= HEALTH_MAX_TRIES; try++)); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      wait "$SERVER_PID" && exit_status=0 || exit_status=$?
      SERVER_PID=""
      show_log_tail "$WORK_DIR/server.log"
      fail "the server exited with status $exit_status before $url returned 200"
    fi
    status=$(curl --silent --max-time "$HEALTH_REQUEST_TIMEOUT_S" --output "$WORK_DIR/healthz.json" \
      --write-out '%{http_code}' "$url") || true
    if [[ $status == 200 ]]; then
      log "GET $url returned 200 after $try tries"
      break
    fi
    sleep 1
  done
  if [[ $status != 200 ]]; then
    show_log_tail "$WORK_DIR/server.log"
    # curl reports 000 when it got no HTTP response at all.
    [[ ${status:-000} != 000 ]] || status="none, connection failed or timed out"
    fail "GET $url did not return 200 within $HEALTH_MAX_TRIES tries (last HTTP status: $status)"
  fi
  # shellcheck disable=SC2016 # JavaScript source, not shell
  node -e '
    const body = require("node:fs").readFileSync(process.argv[1], "utf8");
    const status = JSON.parse(body).status;
    if (status !== "ok") {
      console.error(`expected {"status":"ok"}, got ${body}`);
      process.exit(1);
    }' "$WORK_DIR/healthz.json" || fail "GET $url returned 200 with an unexpected body"
}

# Prints the id of the process that runs the image's CMD, a descendant of the
# buildah run process. buildah-chroot-exec replaces argv[0] with the full path
# of the executable, so argv[0] is compared by its base name.
server_node_pid() {
  local pid argv
  for pid in $(descendant_pids "$SERVER_PID"); do
    mapfile -d '' -t argv <"/proc/$pid/cmdline" 2>/dev/null || continue
    ((${#argv[@]} > 0)) || continue
    if [[ ${argv[0]##*/} == "${IMAGE_CMD[0]##*/}" && "${argv[*]:1}" == "${IMAGE_CMD[*]:1}" ]]; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

check_server_process() {
  local node_pid uids
  node_pid=$(server_node_pid) || fail "no process running '${IMAGE_CMD[*]}' found under buildah run (pid $SERVER_PID)"
  # The Uid line of /proc/PID/status lists the real, effective, saved and file system uids.
  uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$node_pid/status")
  local uid
  for uid in $uids; do
    ((uid != 0)) || fail "the server process $node_pid runs with uid 0 (uids: $uids), expected a non-root user"
  done
  if [[ ${IMAGE_USER%%:*} =~ ^[0-9]+$ && ${uids%% *} != "${IMAGE_USER%%:*}" ]]; then
    fail "the server process $node_pid runs as uid ${uids%% *}, but the image's USER is $IMAGE_USER"
  fi
  NODE_PID=$node_pid
  log "server process $node_pid runs as uid ${uids%% *} (non-root)"
}

check_image_healthcheck() {
  if ! run_in_container "${HEALTHCHECK_CMD[@]}" >"$WORK_DIR/healthcheck.log" 2>&1; then
    show_log_tail "$WORK_DIR/healthcheck.log"
    fail "the image's HEALTHCHECK command '${HEALTHCHECK_CMD[*]}' failed while the server was up"
  fi
  log "the image's HEALTHCHECK command exited with status 0"
}

check_data_dir_writable() {
  local data_dir=${IMAGE_WORKDIR%/}/data
  run_in_container node -e 'const fs = require("node:fs"); fs.accessSync(process.argv[1], fs.constants.W_OK);' "$data_dir" ||
    fail "$data_dir, the folder of the default sqlite file, is not writable by the image's user"
  log "$data_dir is writable by the image's user"
}

stop_server() {
  log "sending SIGTERM to the server process $NODE_PID"
  kill -TERM "$NODE_PID"
  local waited
  for ((waited = 0; waited < STOP_TIMEOUT_S; waited++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill_server
    fail "the server did not exit within $STOP_TIMEOUT_S s of SIGTERM"
  fi
  local status
  wait "$SERVER_PID" && status=0 || status=$?
  SERVER_PID=""
  if ((status != 0)); then
    show_log_tail "$WORK_DIR/server.log"
    fail "the server exited with status $status after SIGTERM, expected 0"
  fi
  log "the server stopped with status 0"
}

check_running_image() {
  start_server
  wait_for_healthz
  check_server_process
  check_image_healthcheck
  check_data_dir_writable
  stop_server
}

remove_created() {
  remove_work_container
  podman rmi "$APP_IMAGE" >/dev/null
  remove_stale_layers
}

print_report() {
  local line
  log "all checks passed"
  printf '\nTimings (%s, %s cores):\n' "$(hostname)" "$(nproc)"
  for line in "${STEP_REPORT[@]}"; do
    printf '  %s\n' "$line"
  done
  printf '  %-44s %7s s\n' "total" "$(elapsed_since "$SCRIPT_START")"
}

main() {
  local mode=check
  case ${1:-} in
    "") ;;
    --cold) mode=cold ;;
    --purge) mode=purge ;;
    -h | --help)
      sed -n '2,/^set -Eeuo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      return 0
      ;;
    *) fail "unknown argument '$1'; expected --cold, --purge or nothing (see --help)" ;;
  esac
  (($# <= 1)) || fail "expected at most one argument, got $#"

  require_root
  # Concurrent runs would share the container and image names.
  exec 9>"$LOCK_FILE"
  flock --nonblock 9 || fail "another run holds $LOCK_FILE; wait for it to finish"
  trap cleanup EXIT
  # Exit through the EXIT trap with the usual status for the signal, so that
  # cleanup runs and the caller sees the interruption.
  trap 'exit 130' INT
  trap 'exit 143' TERM
  WORK_DIR=$(mktemp -d "${TMPDIR:-/var/tmp}/container-check.XXXXXX")

  timed "install missing tools" install_missing_tools
  write_containers_conf
  if [[ $mode == purge ]]; then
    remove_owned_images
    return 0
  fi
  find_host_node
  readonly BASE_IMAGE="$BASE_REPOSITORY:$DEBIAN_SUITE-node$NODE_VERSION"
  if [[ $mode == cold ]]; then
    timed "remove cached images" remove_owned_images
  fi

  timed "base image" ensure_base_image
  timed "podman build" build_app_image
  inspect_app_image
  timed "run and check the server" check_running_image
  timed "remove container, image and stale layers" remove_created
  print_report
}

main "$@"

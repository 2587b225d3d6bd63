#!/usr/bin/env bash
# Builds jetscale's container images (run by `npm run images`), from the repo root as build context:
#   jetscale/worker-demo:dev  <- services/workers/demo/Dockerfile
#   jetscale/scaler:dev       <- services/scaler/Dockerfile
# Each image holds one self-contained bundle from `npm run build` on top of a Node.js 24 base.
# The Dockerfiles default to `FROM node:24-slim`; this script uses it when it is present locally
# or can be pulled. Where no registry answers (our machines), it makes an offline base instead,
# jetscale/node-base:24: the local Node.js 24 binary, the libraries `ldd` lists and the loader,
# brought in with `docker import`, and rebuilt only when the local Node version changes.
# `--print-base` only chooses (or makes) the base and prints its name (./stack uses it).
# Environment (all optional):
#   JETSCALE_NODE_IMAGE=IMAGE   use IMAGE as the base, no detection
#   JETSCALE_SKIP_BUILD=1       do not run `npm run build` (the bundles must exist)
#   JETSCALE_OFFLINE=1          do not try to pull node:24-slim
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

OFFICIAL_BASE=node:24-slim
OFFLINE_BASE=jetscale/node-base:24
# Bump when the offline base's recipe below changes, so existing bases are rebuilt.
OFFLINE_RECIPE=1
# The legacy builder never pulls a FROM image that exists locally (BuildKit may try to resolve it),
# and the Docker CLI on our machines has no buildx plugin.
export DOCKER_BUILDKIT=0

log() { printf 'images: %s\n' "$*" >&2; }
die() { printf 'images: error: %s\n' "$*" >&2; exit 1; }
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
image_label() { docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }

# Runs a command with its output kept in a file; prints that output only if the command fails.
quietly() {
  local out
  out=$(mktemp)
  if ! "$@" >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    die "failed: $*"
  fi
  rm -f "$out"
}

# Prints the path of the local Node.js binary (symlinks resolved); it must be Node 24.
local_node() {
  local bin
  if [[ -x /usr/local/bin/node ]]; then bin=/usr/local/bin/node; else bin=$(command -v node) || die "no node on PATH"; fi
  bin=$(readlink -f "$bin")
  local version
  version=$("$bin" --version)
  [[ $version == v24.* ]] || die "$bin is Node $version; the offline base needs Node 24 (npm install -g --prefix /usr/local node@24)"
  printf '%s\n' "$bin"
}

# Makes $OFFLINE_BASE from the local Node.js binary, unless one for this Node version exists.
# A subshell, so its temp folder is removed on any exit.
ensure_offline_base() (
  local node_bin version
  node_bin=$(local_node)
  version=$("$node_bin" --version)
  if [[ $(image_label "$OFFLINE_BASE" org.jetscale.node-version) == "$version" &&
        $(image_label "$OFFLINE_BASE" org.jetscale.base-recipe) == "$OFFLINE_RECIPE" ]]; then
    log "offline base $OFFLINE_BASE is current (node $version)"
    return
  fi
  log "making offline base $OFFLINE_BASE from $node_bin (node $version)"

  local root
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT

  install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
  # The libraries node links against, at the paths ldd shows, plus the dynamic loader.
  local line lib
  while IFS= read -r line; do
    [[ $line == *"not found"* ]] && die "ldd $node_bin: $line"
    lib=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) { print $i; exit } }' <<<"$line")
    [[ -n $lib ]] || continue  # linux-vdso has no file
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done < <(ldd "$node_bin")
  [[ -n $(find "$root" -name 'ld-linux*' -print -quit) ]] || die "ldd $node_bin listed no dynamic loader"

  mkdir -p "$root/etc" "$root/tmp" "$root/root" "$root/home/node"
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
node:x:1000:1000:node:/home/node:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
node:x:1000:
nogroup:x:65534:
EOF
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  fi
  chmod 1777 "$root/tmp"
  chmod 0700 "$root/root"
  if [[ $(id -u) == 0 ]]; then chown 1000:1000 "$root/home/node"; else chmod 1777 "$root/home/node"; fi

  tar -C "$root" --numeric-owner -c . |
    quietly docker import \
      --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
      --change 'CMD ["node"]' \
      --change "LABEL org.opencontainers.image.title=jetscale-node-base org.opencontainers.image.vendor=jetscale org.jetscale.node-version=$version org.jetscale.base-recipe=$OFFLINE_RECIPE" \
      --message "jetscale offline Node.js base: node $version from $node_bin" \
      - "$OFFLINE_BASE"
  docker tag "$OFFLINE_BASE" "jetscale/node-base:${version#v}"
  [[ $(image_label "$OFFLINE_BASE" org.jetscale.node-version) == "$version" ]] || die "$OFFLINE_BASE lacks its version label"
)

# Sets BASE to the image to build on, making the offline one if needed.
choose_base() {
  if [[ -n ${JETSCALE_NODE_IMAGE:-} ]]; then
    BASE=$JETSCALE_NODE_IMAGE
    log "base: $BASE (from JETSCALE_NODE_IMAGE)"
  elif image_exists "$OFFICIAL_BASE"; then
    BASE=$OFFICIAL_BASE
    log "base: $BASE (present locally)"
  elif [[ ${JETSCALE_OFFLINE:-} != 1 ]] && timeout 20 docker pull --quiet "$OFFICIAL_BASE" >/dev/null 2>&1; then
    BASE=$OFFICIAL_BASE
    log "base: $BASE (pulled)"
  else
    log "$OFFICIAL_BASE is not local and could not be pulled; using the offline base"
    ensure_offline_base
    BASE=$OFFLINE_BASE
    log "base: $BASE (offline, node $(image_label "$BASE" org.jetscale.node-version))"
  fi
}

# build_image TAG DOCKERFILE BASE
build_image() {
  local started=$SECONDS
  quietly docker build --build-arg "NODE_IMAGE=$3" -f "$2" -t "$1" .
  log "built $1 from $2 in $((SECONDS - started))s ($(docker image inspect --format '{{ .Size }}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

command -v docker >/dev/null || die "docker is not installed"
timeout 20 docker info >/dev/null 2>&1 || die "no Docker engine answers (start dockerd; see .ci/run)"

if [[ ${1:-} == --print-base ]]; then
  choose_base
  printf '%s\n' "$BASE"
  exit 0
fi

if [[ ${JETSCALE_SKIP_BUILD:-} != 1 ]]; then
  log "npm run build"
  quietly npm run build
fi
for bundle in services/workers/demo/dist/main.js services/scaler/dist/main.js; do
  [[ -f $bundle && -f $bundle.map ]] || die "$bundle (or its .map) is missing: run npm run build"
done
[[ -f services/workers/demo/dist/snapshot.cjs ]] || die "services/workers/demo/dist/snapshot.cjs is missing: run npm run build"

choose_base
build_image jetscale/worker-demo:dev services/workers/demo/Dockerfile "$BASE"
build_image jetscale/scaler:dev services/scaler/Dockerfile "$BASE"
# Rebuilds leave the previous images untagged; remove those of ours only.
quietly docker image prune --force --filter label=org.opencontainers.image.vendor=jetscale
log "done (base $BASE)"

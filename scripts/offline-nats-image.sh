#!/usr/bin/env bash
# Makes a NATS server image with no registry: the local nats-server binary, the libraries `ldd`
# lists, and busybox (for the compose healthcheck's `wget`), brought in with `docker import`.
# It behaves like the official image for compose.yaml: ENTRYPOINT nats-server, ports 4222/8222.
# Prints the image's name on stdout. Used by ./stack when the official image can't be pulled.
# Needs: nats-server and, to make the image, busybox (Debian: sudo apt-get install -y nats-server
# busybox-static); ./stack up checks both first.
set -euo pipefail

log() { printf 'nats-image: %s\n' "$*" >&2; }
die() { printf 'nats-image: error: %s\n' "$*" >&2; exit 1; }

server=$(command -v nats-server) || die "no nats-server on PATH (Debian: sudo apt-get install -y nats-server)"
server=$(readlink -f "$server")
version=$("$server" --version | sed -n 's/^nats-server: v//p')
[[ -n $version ]] || die "cannot read the version of $server"
image="jetscale/nats-offline:$version"

if docker image inspect "$image" >/dev/null 2>&1; then
  log "$image is present"
  printf '%s\n' "$image"
  exit 0
fi

busybox=$(command -v busybox) || die "no busybox on PATH (Debian: sudo apt-get install -y busybox-static)"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$server" "$root/nats-server"
while IFS= read -r line; do
  lib=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) { print $i; exit } }' <<<"$line")
  [[ -n $lib ]] || continue
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done < <(ldd "$server" 2>/dev/null || true)
install -D -m 0755 "$(readlink -f "$busybox")" "$root/bin/busybox"
for tool in sh wget; do ln -s busybox "$root/bin/$tool"; done
mkdir -p "$root/tmp" "$root/data" "$root/etc/nats"
chmod 1777 "$root/tmp"

tar -C "$root" --numeric-owner -c . |
  docker import \
    --change 'ENTRYPOINT ["/nats-server"]' \
    --change 'CMD ["-js"]' \
    --change 'EXPOSE 4222 8222' \
    --change 'ENV PATH=/bin' \
    --change "LABEL org.opencontainers.image.vendor=jetscale org.opencontainers.image.title=jetscale-nats-offline org.jetscale.nats-version=$version" \
    --message "jetscale offline NATS server $version from $server" \
    - "$image" >/dev/null
log "made $image from $server"
printf '%s\n' "$image"

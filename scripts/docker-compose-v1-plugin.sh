#!/bin/sh
# A Docker CLI plugin that makes `docker compose ...` run Debian's docker-compose 1.29, for machines
# where the compose v2 plugin is not packaged (ours, and CI's). .ci/run installs it as
# /usr/local/lib/docker/cli-plugins/docker-compose when `docker compose version` fails, so the
# README's `docker compose` commands run there as written.
if [ "$1" = docker-cli-plugin-metadata ]; then
  printf '{"SchemaVersion":"0.1.0","Vendor":"jetscale","Version":"%s","ShortDescription":"docker-compose 1.x behind docker compose"}\n' \
    "$(docker-compose version --short 2>/dev/null || echo unknown)"
  exit 0
fi
shift # the plugin's own name, "compose"
exec docker-compose "$@"

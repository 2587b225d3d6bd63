#!/usr/bin/env bash
# `./stack test [--check] [ARGS...]`, which is also what CI runs (`bash .ci/run` on a clean clone:
# CI=true, no stdin, root, Debian 12, only the npm registry and Debian's apt reachable).
# Installs what the tests need where it safely can (as root, or with sudo that asks no password):
# Node.js 24 (npm, into /usr/local), nats-server, docker.io, docker-compose (Debian's 1.29: the
# compose stack's test drives it), busybox-static, chromium (the dashboard's test), curl; otherwise
# prints the one command that installs each missing one and stops. Then starts the Docker engine if
# none answers, and runs `npm ci`, `npm run images`, `npm test` (ARGS go to vitest) and, without
# ARGS, `npm run test:stack` (the compose walkthrough), with the time each step took and the tests'
# count at the end. Idempotent: each step skips what is in place.
# --check: only check the prerequisites (each one's line, ok or missing with its install command);
# exit 1 when one is missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '%s\n' "$*"; }
die() { printf 'stack test: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/prereqs.sh
source scripts/prereqs.sh

system_packages() {
  need_tool nats-server nats-server "the tests start their own NATS servers"
  need_tool docker docker.io "the Docker CLI"
  need_tool dockerd docker.io "the Docker engine the docker tests use"
  need_tool docker-compose docker-compose "the compose stack's test drives docker-compose"
  need_tool busybox busybox-static "the NATS image made without a registry"
  need_tool chromium chromium "the dashboard's test runs it headless"
  need_tool curl curl "the README's commands use it"
  prereq_install_apt
}

if [[ ${1:-} == --check ]]; then
  PREREQ_CHECK=1
  need_node24
  system_packages
  need_docker_engine
  prereq_report || exit 1
  log "./stack test has all it needs"
  exit 0
fi

ci_start=$SECONDS
step_name=""
step_start=$SECONDS
timings=()
closing_line=""

# Prints a section header and records how long the previous section took.
section() {
  end_step
  step_name=$1
  step_start=$SECONDS
  printf '\n=== %s  [t+%ss]\n' "$step_name" $((SECONDS - ci_start))
}
end_step() {
  if [[ -n $step_name ]]; then
    timings+=("$(printf '%5ss  %s' $((SECONDS - step_start)) "$step_name")")
  fi
  step_name=""
}
# shellcheck disable=SC2317 # called by the EXIT trap
summary() {
  local rc=$?
  end_step
  printf '\n=== timings\n'
  printf '%s\n' "${timings[@]}"
  printf '%5ss  total (exit %s)\n' $((SECONDS - ci_start)) "$rc"
  if [[ -n $closing_line ]]; then printf '%s\n' "$closing_line"; fi
}
trap summary EXIT

section "Node.js 24"
need_node24
prereq_report || die "Node.js 24 is missing (the command that installs it is above)"
echo "node $(node --version) at $(command -v node) ($(readlink -f "$(command -v node)")), npm $(npm --version)"

section "system packages (nats-server, docker.io, docker-compose, busybox-static, chromium, curl)"
system_packages
prereq_report || die "system packages are missing (the commands that install them are above)"
echo "$(nats-server --version), $(docker --version), docker-compose $(docker-compose version --short), $(chromium --version 2>/dev/null || echo chromium)"

section "Docker engine"
need_docker_engine
prereq_report || die "no Docker engine (how to start it is above)"
docker version --format 'engine {{.Server.Version}} (API {{.Server.APIVersion}}), client {{.Client.Version}}'

section "npm ci"
npm ci --no-audit --no-fund

section "npm run images"
npm run images

section "npm test"
# Vitest also writes JSON reports, from which the run's closing line is made: 'N passed, N failed'.
vitest_json=$(mktemp /tmp/jetscale-test-vitest.XXXXXX.json)
stack_json=$(mktemp /tmp/jetscale-test-stack.XXXXXX.json)
test_rc=0
npm test -- --reporter=default --reporter=json --outputFile.json="$vitest_json" "$@" || test_rc=$?
# The compose stack's walkthrough runs on its own (minutes); with ARGS only what they name runs.
if [ "$#" -eq 0 ]; then
  section "npm run test:stack"
  npm run test:stack -- --reporter=default --reporter=json --outputFile.json="$stack_json" || test_rc=1
fi
# shellcheck disable=SC2016 # JavaScript, not shell
closing_line=$(node -e '
  const fs = require("node:fs")
  const reports = process.argv.slice(1).filter((f) => fs.statSync(f).size > 0).map((f) => JSON.parse(fs.readFileSync(f, "utf8")))
  const sum = (k) => reports.reduce((n, r) => n + r[k], 0)
  console.log(`tests: ${sum("numPassedTests")} passed, ${sum("numFailedTests")} failed, ${sum("numPendingTests") + sum("numTodoTests")} skipped`)
' "$vitest_json" "$stack_json" 2>/dev/null) || closing_line=""
rm -f "$vitest_json" "$stack_json"
exit "$test_rc"

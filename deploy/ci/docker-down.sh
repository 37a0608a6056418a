#!/usr/bin/env bash
# Stop the dockerd that docker-up.sh started (identified by its pidfile).
# A daemon started any other way (systemd, a developer's own) is left alone.
# Images stay in the data root, so the next docker-up.sh starts warm.
set -euo pipefail

PIDFILE=${PLATFORM_DOCKER_PIDFILE:-/var/run/platform-dockerd.pid}
STOP_TIMEOUT=${PLATFORM_DOCKER_STOP_TIMEOUT:-30}

log() { printf '[docker-down] %s\n' "$*" >&2; }

pid=$(cat "$PIDFILE" 2>/dev/null || true)
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
  log "no dockerd started by docker-up.sh is running"; exit 0
fi
# Guard against a recycled pid belonging to something else.
if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != dockerd ]; then
  log "pid $pid from $PIDFILE is not dockerd; leaving it alone"; exit 0
fi

log "stopping dockerd (pid $pid)"
kill -TERM "$pid"   # dockerd stops its containers and its containerd itself
for _ in $(seq $((STOP_TIMEOUT * 2))); do
  kill -0 "$pid" 2>/dev/null || { log "stopped"; exit 0; }
  sleep 0.5
done
log "dockerd still running after ${STOP_TIMEOUT}s; sending SIGKILL"
kill -KILL "$pid" 2>/dev/null || true

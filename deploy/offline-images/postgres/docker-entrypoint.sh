#!/usr/bin/env bash
# Entrypoint of the local postgres stand-in, following the official image's
# contract: POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required
# unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (default: the user),
# POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256),
# PGDATA, and *.sh / *.sql / *.sql.gz in /docker-entrypoint-initdb.d run once
# on the first start. The server ends up as PID 1, running as postgres.
set -Eeuo pipefail

# `docker run image -c foo=bar` means `postgres -c foo=bar`, as upstream.
if [ $# -eq 0 ] || [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi

# Anything but the server (psql, bash, pg_isready ...) is just executed, and
# so is `postgres --version` and the like: no cluster init for those.
if [ "$1" != postgres ]; then exec "$@"; fi
for arg in "$@"; do
  case $arg in -'?'|--help|-V|--version|--describe-config|-C) exec "$@" ;; esac
done

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
export PGDATA

# As root: fix ownership of a fresh volume/bind mount, then re-run this
# script as postgres (setpriv is in util-linux, so no gosu needed).
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA"
  chmod 00700 "$PGDATA" || :
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' + 2>/dev/null || :
  install -d -o postgres -g postgres -m 3777 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%F %T UTC')" "$*"; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    cat >&2 <<'EOM'
Error: database is uninitialized and superuser password is not specified.
       Set POSTGRES_PASSWORD to a non-empty value for the superuser, or
       POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without one.
EOM
    exit 1
  fi

  log "initializing database cluster in $PGDATA"
  # Password on stdin, never on a command line or on disk.
  pw=()
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then pw=(--pwfile=/dev/stdin); fi
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a word list by contract
  initdb --username="$POSTGRES_USER" ${pw[@]+"${pw[@]}"} \
    --auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD" \
    ${POSTGRES_INITDB_ARGS:-} <<<"${POSTGRES_PASSWORD:-}" >/dev/null
  # initdb only allows loopback by default; other containers connect over
  # the network, with passwords (or trust, if asked for).
  printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"

  # Temporary server on a private unix socket only: no client can reach the
  # half-initialized database, and pg_isready (healthchecks) keeps failing
  # until the real server is up - unlike upstream, whose init server answers
  # on the default socket.
  PGHOST=$(mktemp -d)
  export PGHOST   # for psql here and in *.sh init scripts
  pg_ctl -D "$PGDATA" -w start \
    -o "-c listen_addresses='' -c unix_socket_directories=$PGHOST -p ${PGPORT:-5432}" >/dev/null
  psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)

  if [ "$POSTGRES_DB" != postgres ]; then
    "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >/dev/null
  fi

  # shellcheck disable=SC1090  # init scripts are the user's
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    case $f in
      *.sh)     log "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql)    log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
      *)        log "ignoring $f" ;;
    esac
  done

  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  rmdir "$PGHOST"; unset PGHOST
  log "init done; ready for start up"
else
  log "database directory $PGDATA already initialized; skipping init"
fi

# exec: postgres becomes PID 1 and receives docker's stop signal directly.
exec "$@"

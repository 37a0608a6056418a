#!/bin/sh
# Container command: apply migrations when asked (compose), then serve with gunicorn.
# Kubernetes runs `flask db upgrade` in an init container (deploy/k8s/components/migrations).
set -eu
if [ "${MIGRATE_ON_START:-0}" = "1" ]; then
  flask db upgrade
fi
exec gunicorn -c /etc/platform/gunicorn.conf.py "${SERVICE_MODULE}:create_app()"

#!/bin/sh
# Container command: serve with gunicorn. With MIGRATE_ON_START=1 (compose) gunicorn applies the
# migrations before it takes traffic (deploy/gunicorn.conf.py); Kubernetes runs `flask db upgrade`
# in an init container instead (deploy/k8s/components/migrations).
set -eu
exec gunicorn -c /etc/platform/gunicorn.conf.py "${SERVICE_MODULE}:create_app()"

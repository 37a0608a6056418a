# One image recipe for every service: `SERVICE` names the folder under services/.
# Build context: the repository root (common is installed from libs/common, not from an index).
#   docker build -f deploy/docker/service.Dockerfile --build-arg SERVICE=users .
# Base images are build arguments so machines without registry access can pass local stand-ins
# (deploy/offline-images/); everyone else gets the official image.
ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
# uv reads the lock; keep its pin equal to the Makefile's (UV_PIN).
ARG UV_VERSION=0.13.9
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 UV_NO_CACHE=1 UV_PYTHON_DOWNLOADS=never
RUN python -m pip install "uv==${UV_VERSION}"
WORKDIR /src
# uv.lock and the workspace's pyproject.toml are enough for `uv export --frozen` to write the
# service's part of the lock (the other members need not be in the image).
COPY pyproject.toml uv.lock /src/
COPY libs/common /src/libs/common
COPY services/${SERVICE} /src/services/${SERVICE}
# The service's dependencies exactly as uv.lock has them (the versions tox tested), checked
# against the lock's hashes, then the two workspace packages without dependencies. pip installs
# (uv only reads the lock): pip trusts the image's CA bundle, which holds any CA a site adds.
# --target gives a version-independent path (/opt/app/<package>), which `docker compose watch`
# syncs source into for hot reload.
RUN uv export --frozen --no-dev --no-emit-workspace --package "${SERVICE}-service" -o /tmp/locked.txt \
 && python -m pip install --target /opt/app --no-deps --require-hashes -r /tmp/locked.txt \
 && python -m pip install --target /opt/app --no-deps ./libs/common "./services/${SERVICE}"

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
# A fixed, unprivileged user: no build tools, no tests, no sources in this stage. The one
# writable folder, /var/lib/service, is where a service keeps state that is not in its database.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app \
 && install -d -o app -g app /var/lib/service
COPY --from=build /opt/app /opt/app
COPY deploy/gunicorn.conf.py deploy/docker/healthcheck.py deploy/docker/start.sh /etc/platform/
ENV PYTHONPATH=/opt/app \
    PATH=/opt/app/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FLASK_APP=${SERVICE}_service \
    SERVICE_MODULE=${SERVICE}_service \
    PORT=8000
USER 10001
WORKDIR /tmp
EXPOSE 8000
# Traefik routes a container only once it is healthy. (HEALTHCHECK --start-interval would route a
# restarted service sooner, but needs Docker 25; Debian's docker.io, used by CI, refuses it.)
HEALTHCHECK --interval=5s --timeout=12s --start-period=10s --retries=5 \
  CMD ["python", "/etc/platform/healthcheck.py"]
CMD ["/etc/platform/start.sh"]

# One image recipe for every service: `SERVICE` names the folder under services/.
# Build context: the repository root (common is installed from libs/common, not from an index).
#   docker build -f deploy/docker/service.Dockerfile --build-arg SERVICE=users .
# Base images are build arguments so machines without registry access can pass local stand-ins
# (deploy/offline-images/); everyone else gets the official image.
ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY libs/common /src/libs/common
COPY services/${SERVICE} /src/services/${SERVICE}
# --target gives a version-independent path (/opt/app/<package>), which `docker compose watch`
# syncs source into for hot reload.
RUN python -m pip install --target /opt/app /src/libs/common /src/services/${SERVICE}

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

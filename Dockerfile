# syntax=docker/dockerfile:1
# The reconciler daemon: `docker build -t reconciler .`, then
#   docker run --read-only -v reconciler-cache:/var/cache/reconciler -p 9464:9464 \
#     reconciler --repo https://github.com/OWNER/CONFIG-REPO ...
# Both stages use the same exact Python release (no floating tag). To pin the digest too,
# append `@sha256:...` to BASE_IMAGE's default, the digest printed by
#   skopeo inspect --format '{{.Digest}}' docker://docker.io/library/python:3.11.14-slim-bookworm
# (or `docker buildx imagetools inspect python:3.11.14-slim-bookworm`).
# BASE_IMAGE is a build argument only so that CI, which reaches no container registry, can
# build this file from a Debian bookworm base it makes itself (scripts/check-image-run); any
# other base must carry python3 with venv, useradd and groupadd.
# The install steps live in scripts/install-image.sh, which scripts/check-image-install also
# runs outside any container from the same lock file.

ARG BASE_IMAGE=python:3.11.14-slim-bookworm

FROM ${BASE_IMAGE} AS builder

# The builder's layers are thrown away; no pip cache is worth keeping in them.
ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Dependencies first, from the hashed lock alone, so a source change reuses this layer.
COPY requirements/runtime.lock requirements/runtime.lock
COPY scripts/install-image.sh scripts/install-image.sh
RUN sh scripts/install-image.sh deps /opt/reconciler requirements/runtime.lock

# What `COPY .` brings is fixed by .dockerignore's allow-list.
COPY . .
RUN sh scripts/install-image.sh project /opt/reconciler /src


FROM ${BASE_IMAGE} AS runtime

ARG RECONCILER_VERSION=0.1.0
ARG SOURCE_URL=""
ARG REVISION=""
LABEL org.opencontainers.image.title="reconciler" \
      org.opencontainers.image.description="Git-native daemon that promotes container images through environments in a GitOps config repo" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${RECONCILER_VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${REVISION}"

# No git or libgit2 package: pygit2's wheel bundles libgit2, libssh2 and OpenSSL. The base
# image already ships ca-certificates (pygit2 reads Python's default CA paths; httpx uses
# certifi) and the IANA zones come from the tzdata wheel. A numeric uid lets Kubernetes
# verify runAsNonRoot. The home folder is where ~/.ssh/known_hosts or ~/.docker/config.json
# are mounted; the cache folder is the only place the daemon writes (its clone lives there).
RUN groupadd --system --gid 10001 reconciler \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/reconciler \
       --shell /usr/sbin/nologin reconciler \
    && install -d -o 10001 -g 10001 -m 0750 /var/cache/reconciler

COPY --from=builder /opt/reconciler /opt/reconciler

ENV PATH=/opt/reconciler/bin:$PATH \
    HOME=/home/reconciler \
    RECONCILER_CACHE_DIR=/var/cache/reconciler \
    RECONCILER_LISTEN=0.0.0.0:9464 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER 10001:10001
WORKDIR /home/reconciler
VOLUME ["/var/cache/reconciler"]
EXPOSE 9464

# No curl in a slim image: Python asks /healthz on the port RECONCILER_LISTEN names (the
# loopback address when it listens on every interface); any error or non-2xx status fails.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; h, _, p = os.environ.get('RECONCILER_LISTEN', '0.0.0.0:9464').rpartition(':'); h = '127.0.0.1' if h in ('', '0.0.0.0') else h; r.urlopen(f'http://{h}:{p}/healthz', timeout=4)"]

# `reconciler run` stops after its running cycle on SIGTERM, so it can be PID 1 itself.
ENTRYPOINT ["reconciler", "run"]

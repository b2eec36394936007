# syntax=docker/dockerfile:1
#
# One image for every way Flowtape runs:
#   docker run -p 8080:8080 -v flowtape-data:/data flowtape           # embedded: all five services, SQLite in /data
#   docker run ... flowtape serve gateway|auth|triggers|engine|connectors   # distributed: one service per container
#
# Build: docker build -t flowtape:0.1.0 .

ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:20-slim

# --- console: the web console's static files (npm ci from the lock file, then the Vite build) -------------
FROM ${NODE_IMAGE} AS console
WORKDIR /console
COPY console/package.json console/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund --loglevel=error
COPY console/ ./
RUN npm run build

# --- builder: resolve the locked dependencies into /app/.venv --------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

# Use the image's interpreter (never download one), compile bytecode now because the runtime root
# filesystem may be read-only, and copy files out of the cache so the venv can be copied between stages.
ENV UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

WORKDIR /src

# Third-party dependencies first: this layer is reused until uv.lock or a pyproject.toml changes.
COPY pyproject.toml uv.lock README.md ./
COPY libs/common/pyproject.toml libs/common/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/auth/pyproject.toml services/auth/
COPY services/triggers/pyproject.toml services/triggers/
COPY services/engine/pyproject.toml services/engine/
COPY services/connectors/pyproject.toml services/connectors/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace

# Then the workspace's own packages, installed as wheels (--no-editable) so the runtime stage needs no source.
COPY src src
COPY libs libs
COPY services services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable \
 && /app/.venv/bin/python -c "import flowtape.cli, flowtape.common, flowtape.gateway, flowtape.auth, flowtape.triggers, flowtape.engine, flowtape.connectors"

# --- runtime: the interpreter, the venv, and an unprivileged user ----------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# bubblewrap isolates code nodes (user code gets its own user, PID, mount and network namespaces; see
# docs/security.md). It needs user namespaces, which Docker's default seccomp and AppArmor profiles refuse:
# docker-compose.yml lifts them for the connectors only. Not pinned: Debian stable's security updates replace
# the version, and a pin would break the build then.
# hadolint ignore=DL3008
# Node.js runs code nodes written in JavaScript; Debian's Chromium is the browser node's browser (Playwright
# drives it; no browser build is downloaded), fonts-liberation gives its pages readable text.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap nodejs chromium fonts-liberation \
 && rm -rf /var/lib/apt/lists/*

ARG FLOWTAPE_UID=10001
RUN groupadd --system --gid "${FLOWTAPE_UID}" flowtape \
 && useradd --system --uid "${FLOWTAPE_UID}" --gid flowtape --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin flowtape \
 && mkdir -p /data \
 && chown flowtape:flowtape /data

# Owned by root and so read-only for the service user: the code it runs cannot be rewritten by it.
COPY --from=builder /app/.venv /app/.venv
COPY --from=console /console/dist /app/console

# FLOWTAPE_HOST: inside a container `serve` must listen on every interface, not the loopback default.
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FLOWTAPE_HOST=0.0.0.0 \
    FLOWTAPE_DATA_DIR=/data \
    FLOWTAPE_CONSOLE_DIR=/app/console

WORKDIR /app
USER ${FLOWTAPE_UID}:${FLOWTAPE_UID}
VOLUME ["/data"]
EXPOSE 8080

# Liveness only (/healthz). `serve <service>` containers must set FLOWTAPE_PORT so this probes the right port.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('FLOWTAPE_PORT', '8080') + '/healthz', timeout=2)"]

ENTRYPOINT ["flowtape"]
# `up` takes its address from --host (default 127.0.0.1), not FLOWTAPE_HOST: listen on every interface.
CMD ["up", "--data-dir", "/data", "--port", "8080", "--host", "0.0.0.0"]

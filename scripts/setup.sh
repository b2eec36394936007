#!/usr/bin/env bash
# Creates .venv/ from uv.lock (installing uv into .tools/ first when it is not on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v uv >/dev/null 2>&1; then
  UV=uv
else
  if [ ! -x .tools/bin/uv ]; then
    echo "installing uv into .tools/ ..."
    python3 -m venv .tools
    .tools/bin/pip install --quiet 'uv>=0.9,<0.14'
  fi
  UV=.tools/bin/uv
fi
"$UV" sync --frozen --quiet

# The web console (console/): `npm ci` from the committed lock file, then the Vite build, whenever the build is
# missing or older than its sources. The gateway serves console/dist; without Node.js the API still works.
build_console() {
  local stamp=console/dist/index.html
  local sources=(console/src console/public console/index.html console/package.json console/package-lock.json
                 console/vite.config.ts console/tsconfig.json)
  if [ -f "$stamp" ] && [ -z "$(find "${sources[@]}" -newer "$stamp" -print -quit 2>/dev/null)" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is not installed: the web console is not built (install Node.js 20 and run make setup)" >&2
    return 0
  fi
  if [ ! -f console/node_modules/.package-lock.json ] || [ console/package-lock.json -nt console/node_modules/.package-lock.json ]; then
    echo "installing the console's dependencies (npm ci) ..."
    (cd console && npm ci --no-audit --no-fund --loglevel=error)
  fi
  echo "building the console ..."
  (cd console && npm run --silent build >/dev/null)
}
build_console

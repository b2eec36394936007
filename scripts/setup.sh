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

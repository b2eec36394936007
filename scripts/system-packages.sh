#!/usr/bin/env bash
# Installs the Debian packages Flowtape needs beside Python, when they are missing (quiet when they are not):
#   bubblewrap  isolates code nodes (FLOWTAPE_CODE_ISOLATION=namespaces, the default; see docs/security.md)
#   util-linux  setpriv, which drops a root connectors service's code to uid 65534, and prlimit (always on Debian)
#   nodejs      runs code nodes written in JavaScript, and builds the console
#   chromium    the browser of the browser node and of the console's end-to-end tests (Debian's build: never a
#               downloaded one)
#   prometheus  the real Prometheus the dashboard test scrapes the services with, and promtool for deploy/check.sh
set -euo pipefail
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
{ command -v setpriv && command -v prlimit; } >/dev/null 2>&1 || missing+=(util-linux)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
[ -x /usr/bin/chromium ] || missing+=(chromium)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install ${missing[*]} with your package manager (code nodes and the console tests need them)" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${missing[*]} ..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

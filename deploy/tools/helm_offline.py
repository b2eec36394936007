"""`helm lint` and `helm template` without a helm binary: Helm's own Go SDK, from the PyPI package
helm-python-sdk (libhelm_c through ctypes; Python 3.10+), used by deploy/check.sh when `helm` is not installed.

    helm_offline.py lint CHART [-f VALUES.yaml ...]
    helm_offline.py template CHART [-f VALUES.yaml ...] [--release NAME] [--namespace NS]

`template` renders offline as `helm template` does (no cluster; `lookup` finds nothing) and prints the manifests
in template order, hooks included. Helm failures (`required`, `fail`, the values schema) exit 1 with its message.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import helm_python as helm
import yaml
from helm_python.errors import HelmError

SEVERITIES = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}


def _merged_values(files: list[str]) -> dict[str, Any]:
    """Values files merged as helm merges several ``-f``: later files win, maps merge key by key."""

    def merge(into: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
        for key, value in other.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value
        return into

    values: dict[str, Any] = {}
    for name in files:
        with open(name) as f:
            merge(values, yaml.safe_load(f) or {})
    return values


def lint(chart: str, value_files: list[str]) -> int:
    try:
        report = helm.lint(chart, _merged_values(value_files) or None)
    except HelmError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    messages = report.get("messages") or []
    for message in messages:
        print(f"[{SEVERITIES.get(message.get('severity'), '?')}] {message.get('path')}: {message.get('error')}")
    errors = report.get("errors") or []
    for error in errors:
        print(f"[ERROR] {error}")
    failed = bool(errors) or any(int(m.get("severity") or 0) >= 3 for m in messages)
    print(f"{report.get('total_charts_linted', 0)} chart(s) linted, {'failed' if failed else '0 chart(s) failed'}")
    return 1 if failed else 0


def template(chart: str, value_files: list[str], release: str, namespace: str) -> int:
    try:
        loaded = helm.Chart.load(chart)
        values = _merged_values(value_files) or None
        manifests = loaded.render(values, name=release, namespace=namespace, is_install=True)
    except HelmError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    for path in sorted(manifests):
        text = manifests[path].strip()
        if not text or path.endswith("NOTES.txt"):
            continue
        print(f"---\n# Source: {path}\n{text}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["lint", "template"])
    parser.add_argument("chart")
    parser.add_argument("-f", "--values", action="append", default=[])
    parser.add_argument("--release", default="flowtape")
    parser.add_argument("--namespace", default="flowtape")
    args = parser.parse_args()
    if args.command == "lint":
        return lint(args.chart, args.values)
    return template(args.chart, args.values, args.release, args.namespace)


if __name__ == "__main__":
    sys.exit(main())

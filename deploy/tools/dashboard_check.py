"""Check Grafana dashboards: valid JSON, unique panel ids, and every PromQL query valid.

    dashboard_check.py DASHBOARD.json ... > queries.rules.yml && promtool check rules queries.rules.yml

Prints the queries as Prometheus recording rules (Grafana's `$__rate_interval`, `$__range` and variables replaced
by plain values), so that promtool parses each one. :func:`queries` is what tests/test_dashboards.py evaluates
on a real Prometheus.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside rows included."""
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panels({"panels": panel.get("panels", [])}))
    return found


def queries(dashboard: dict[str, Any], rate_interval: str = "5m", range_: str = "1h") -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query, with Grafana's variables replaced (each template variable by
    ``.*``, as "All" would)."""
    variables = [v["name"] for v in dashboard.get("templating", {}).get("list", []) if v.get("type") != "datasource"]
    found = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", rate_interval).replace("$__range", range_)
            for name in variables:
                expr = re.sub(rf"\$\{{?{name}\}}?", ".*", expr)
            found.append((str(panel.get("title")), expr))
    return found


def main(paths: list[str]) -> int:
    lines = ["groups:"]
    for path in paths:
        with open(path) as f:
            dashboard = json.load(f)
        ids = [p["id"] for p in panels(dashboard)]
        if len(ids) != len(set(ids)):
            print(f"{path}: duplicate panel ids", file=sys.stderr)
            return 1
        found = queries(dashboard)
        if any("$" in expr for _, expr in found):
            print(f"{path}: a query uses a variable the dashboard does not define", file=sys.stderr)
            return 1
        uid = re.sub(r"[^a-zA-Z0-9_]", "_", dashboard["uid"])
        lines += [f"  - name: {json.dumps(dashboard['uid'])}", "    rules:"]
        for count, (_, expr) in enumerate(found):
            lines += [f"      - record: dashboard:{uid}:query_{count}", f"        expr: {json.dumps(expr)}"]
        print(f"{path}: {len(ids)} panels, {len(found)} queries", file=sys.stderr)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

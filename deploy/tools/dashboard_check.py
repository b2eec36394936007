"""Check Grafana dashboards: valid JSON, unique panel ids, and every PromQL query valid.

    dashboard_check.py DASHBOARD.json ... > queries.rules.yml && promtool check rules queries.rules.yml

Prints the queries as Prometheus recording rules (Grafana's `$__rate_interval`, `$__range` and variables replaced
by plain values), so that promtool parses each one.
"""

from __future__ import annotations

import json
import sys


def main(paths: list[str]) -> int:
    lines = ["groups:"]
    for path in paths:
        with open(path) as f:
            dashboard = json.load(f)
        panels = dashboard["panels"]
        ids = [p["id"] for p in panels]
        if len(ids) != len(set(ids)):
            print(f"{path}: duplicate panel ids", file=sys.stderr)
            return 1
        lines += [f"  - name: {json.dumps(dashboard['uid'])}", "    rules:"]
        count = 0
        for panel in panels:
            for target in panel.get("targets", []):
                expr = (
                    target["expr"].replace("$__rate_interval", "5m").replace("$__range", "1h").replace("$service", ".*")
                )
                lines += [f"      - record: dashboard:query_{count}", f"        expr: {json.dumps(expr)}"]
                count += 1
        print(f"{path}: {len(panels)} panels, {count} queries", file=sys.stderr)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

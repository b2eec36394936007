"""`helm lint` and `helm template` without a helm binary: helm's own engine, from the PyPI package helm-sdkpy
(Python 3.12+), used by deploy/check.sh when `helm` is not installed.

    helm_offline.py lint CHART [-f VALUES.yaml ...]
    helm_offline.py template CHART [-f VALUES.yaml ...] [--release NAME] [--namespace NS]

helm-sdkpy has no `template`: it is emulated by a real `helm install` (in-memory release storage, no waiting)
against a throwaway API server on 127.0.0.1 that knows just enough of the Kubernetes API to accept the objects.
The manifests (and the hooks, such as the test pod) are printed as `helm template` would print them. Helm
failures (`required`, `fail`, values schema) exit 1 with helm's message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

if os.environ.get("HELM_DRIVER") != "memory":
    # Keep releases out of the fake API. Go reads the environment the process started with, hence the re-exec.
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "HELM_DRIVER": "memory"})

import yaml
from helm_sdkpy import Configuration, Install, Lint
from helm_sdkpy.exceptions import HelmError

# group -> (version, [(plural, kind, namespaced)])
API: dict[str, tuple[str, list[tuple[str, str, bool]]]] = {
    "": (
        "v1",
        [
            ("secrets", "Secret", True),
            ("configmaps", "ConfigMap", True),
            ("services", "Service", True),
            ("serviceaccounts", "ServiceAccount", True),
            ("pods", "Pod", True),
            ("namespaces", "Namespace", False),
        ],
    ),
    "apps": ("v1", [("deployments", "Deployment", True)]),
    "policy": ("v1", [("poddisruptionbudgets", "PodDisruptionBudget", True)]),
    "autoscaling": ("v2", [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)]),
    "networking.k8s.io": ("v1", [("ingresses", "Ingress", True)]),
    "monitoring.coreos.com": (
        "v1",
        [("servicemonitors", "ServiceMonitor", True), ("prometheusrules", "PrometheusRule", True)],
    ),
}


def _resource_list(group: str, version: str) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [
            {
                "name": plural,
                "singularName": kind.lower(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            }
            for plural, kind, namespaced in API[group][1]
        ],
    }


class _FakeApiServer(BaseHTTPRequestHandler):
    store: dict[str, Any] = {}

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _path(self) -> str:
        return self.path.split("?")[0].rstrip("/")

    def _body(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

    def do_GET(self) -> None:
        path = self._path()
        if path == "/version":
            return self._send(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0", "platform": "linux/amd64"})
        if path == "/api":
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if path == "/apis":
            groups = [
                {
                    "name": g,
                    "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                    "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v},
                }
                for g, (v, _) in API.items()
                if g
            ]
            return self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        if path == "/api/v1":
            return self._send(200, _resource_list("", "v1"))
        match = re.fullmatch(r"/apis/([^/]+)/([^/]+)", path)
        if match and match.group(1) in API:
            return self._send(200, _resource_list(match.group(1), match.group(2)))
        if path in self.store:
            return self._send(200, self.store[path])
        if path.rsplit("/", 1)[-1] in {plural for _, kinds in API.values() for plural, _, _ in kinds}:
            items = [o for p, o in self.store.items() if p.rsplit("/", 1)[0] == path]
            return self._send(
                200, {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}
            )
        self._send(
            404,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "NotFound",
                "code": 404,
                "message": f"{path} not found",
            },
        )

    def do_POST(self) -> None:
        obj = self._body()
        metadata = obj.setdefault("metadata", {})
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata["resourceVersion"] = "1"
        self.store[f"{self._path()}/{metadata.get('name')}"] = obj
        self._send(201, obj)

    def do_PUT(self) -> None:
        obj = self._body()
        self.store[self._path()] = obj
        self._send(200, obj)

    def do_PATCH(self) -> None:
        self._body()
        self._send(200, self.store.get(self._path(), {}))

    def do_DELETE(self) -> None:
        self.store.pop(self._path(), None)
        self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})


def _merged_values(files: list[str]) -> dict[str, Any]:
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


async def lint(chart: str, value_files: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, os.path.basename(os.path.abspath(chart)))
        shutil.copytree(chart, copy)
        if value_files:  # helm-sdkpy's lint takes no values: lint a copy whose values.yaml has them merged in
            merged = _merged_values([os.path.join(copy, "values.yaml"), *value_files])
            with open(os.path.join(copy, "values.yaml"), "w") as f:
                yaml.safe_dump(merged, f)
        result = await Lint(Configuration()).run(copy)
    severities = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}
    for message in result.get("Messages") or []:
        err = message.get("Err")
        # helm-sdkpy serialises the Go error as {}: only severity and path survive (INFO: e.g. "icon is recommended")
        detail = f": {err}" if err else ""
        print(f"[{severities.get(message.get('Severity'), '?')}] {message.get('Path')}{detail}")
    errors = result.get("Errors") or []
    for error in errors:
        print(f"[ERROR] {error}")
    failed = errors or any(m.get("Severity", 0) >= 3 for m in result.get("Messages") or [])
    print(f"{result.get('TotalChartsLinted', 0)} chart(s) linted, {'failed' if failed else '0 chart(s) failed'}")
    return 1 if failed else 0


async def template(chart: str, value_files: list[str], release: str, namespace: str) -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeApiServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "offline",
            "clusters": [{"name": "offline", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
            "users": [{"name": "offline", "user": {"token": "offline"}}],
            "contexts": [
                {"name": "offline", "context": {"cluster": "offline", "user": "offline", "namespace": namespace}}
            ],
        }
    )
    try:
        result = await Install(Configuration(namespace=namespace, kubeconfig=kubeconfig)).run(
            release, os.path.abspath(chart), values=_merged_values(value_files) or None, wait=False, timeout=60
        )
    except HelmError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    finally:
        server.shutdown()
    print(result.get("manifest", "").strip())
    for hook in result.get("hooks") or []:
        print("---\n" + hook.get("manifest", "").strip())
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
        return asyncio.run(lint(args.chart, args.values))
    return asyncio.run(template(args.chart, args.values, args.release, args.namespace))


if __name__ == "__main__":
    sys.exit(main())

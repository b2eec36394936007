"""``flowtape nodes new``: the scaffolded plugin's own tests pass, and its entry point loads into the registry."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from flowtape.connectors.registry import ENTRY_POINT_GROUP, NodeRegistry
from tests.infra import FLOWTAPE, ROOT


def test_scaffolded_plugin_passes_its_own_tests_and_registers(tmp_path: Path) -> None:
    created = subprocess.run(
        [FLOWTAPE, "nodes", "new", "acme-greeter", "--dir", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert created.returncode == 0, created.stderr
    root = tmp_path / "flowtape-node-acme-greeter"
    assert f"created {root}" in created.stdout

    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "5 passed" in tested.stdout

    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    declared = pyproject["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert declared == {"acme_greeter": "flowtape_node_acme_greeter.node:AcmeGreeterNode"}
    entry_point = importlib.metadata.EntryPoint("acme_greeter", declared["acme_greeter"], ENTRY_POINT_GROUP)
    sys.path.insert(0, str(root / "src"))
    try:
        registry = NodeRegistry.default(plugins=lambda: [entry_point])
    finally:
        sys.path.remove(str(root / "src"))
    assert "acme_greeter" in registry
    [entry] = [e for e in registry.catalog() if e["type"] == "acme_greeter"]
    assert entry["examples"][0]["title"] == "Greet a customer"
    assert entry["params_schema"]["additionalProperties"] is False

    lint = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ruff"), "check", "--no-cache", "."],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert lint.returncode == 0, lint.stdout


def test_unusable_names_and_existing_directories_are_refused(tmp_path: Path) -> None:
    bad = subprocess.run([FLOWTAPE, "nodes", "new", "9lives", "--dir", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 1 and "is not a usable node name" in bad.stderr
    first = subprocess.run([FLOWTAPE, "nodes", "new", "twice", "--dir", str(tmp_path)], capture_output=True, text=True)
    assert first.returncode == 0
    again = subprocess.run([FLOWTAPE, "nodes", "new", "twice", "--dir", str(tmp_path)], capture_output=True, text=True)
    assert again.returncode == 1 and "already exists" in again.stderr

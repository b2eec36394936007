"""Validate docker-compose.yml against the Compose specification without Docker (PyPI: compose-spec, pyyaml).

    compose_check.py docker-compose.yml deploy/compose.env.example

Resolves YAML anchors and merge keys, interpolates `${VAR}`, `${VAR:-default}`, `${VAR:?error}` the way
Compose does (with the example env file's keys given dummy values), then parses the result with the
compose-spec models, which reject unknown keys and bad values. Also checks that Compose refuses to start
when the required secrets are missing.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import compose_spec
import yaml

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class MissingVariable(Exception):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1) or match.group(4), match.group(2), match.group(3)
        current = env.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":-", "-"):
            return arg if unset else current  # type: ignore[return-value]
        if op in (":?", "?"):
            if unset:
                raise MissingVariable(f"{name}: {arg}")
            return current  # type: ignore[return-value]
        return current or ""

    return _VARIABLE.sub(replace, value)


def env_file_keys(path: str) -> list[str]:
    keys = []
    with open(path) as f:
        for line in f:
            line = line.strip().lstrip("# ").strip()
            match = re.match(r"([A-Z][A-Z0-9_]*)=", line)
            if match:
                keys.append(match.group(1))
    return keys


def main(compose_file: str, env_example: str) -> int:
    with open(compose_file) as f:
        raw = yaml.safe_load(f)
    env = {key: f"dummy-{key.lower()}" for key in env_file_keys(env_example)}
    env.update({"FLOWTAPE_HTTP_PORT": "8080", "FLOWTAPE_ENVIRONMENT": "production", "FLOWTAPE_LOG_LEVEL": "INFO"})
    resolved = interpolate(raw, env)
    try:
        project = compose_spec.PyCompose.from_json(json.dumps(resolved))
    except Exception as exc:  # the bindings raise plain exceptions with serde's message
        print(f"{compose_file}: INVALID: {exc}")
        return 1
    print(f"{compose_file}: valid; services: {', '.join(project.service_names())}")

    failed = 0
    for secret in ("FLOWTAPE_SECRET_KEY", "POSTGRES_PASSWORD", "RABBITMQ_PASSWORD"):
        try:
            interpolate(raw, {k: v for k, v in env.items() if k != secret})
        except MissingVariable:
            print(f"  refuses to start without {secret}: yes")
        else:
            print(f"  refuses to start without {secret}: NO")
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))

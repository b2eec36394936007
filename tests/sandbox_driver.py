"""Runs one ``code`` node the way the connectors do and prints its items or its error as JSON: what
:class:`tests.sandbox_hosts.Unprivileged` starts as another user. The request comes as JSON on stdin."""

from __future__ import annotations

import asyncio
import json
import sys

from tests.sandbox_hosts import run_code_node

if __name__ == "__main__":
    print(json.dumps(asyncio.run(run_code_node(json.loads(sys.stdin.buffer.read())))))

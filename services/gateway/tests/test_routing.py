"""The gateway's route table: every route reachable in the order it is declared, none open by accident."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import Match

from flowtape.gateway import app
from flowtape.gateway.deps import SIGNED_IN, secured

#: every route as the app tries them (``routers()`` builds a new console router per call: take one table)
DECLARED = [route for router in app.routers() for route in router.routes if isinstance(route, APIRoute)]


def _example(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


@pytest.mark.parametrize("route", DECLARED, ids=lambda r: f"{sorted(r.methods)[0]} {r.path}")
def test_each_route_is_the_first_to_claim_its_own_paths(route: APIRoute) -> None:
    """The hot paths are declared first for speed; that must not let an earlier route swallow a later one's paths."""
    for method in route.methods:
        scope = {"type": "http", "method": method, "path": _example(route.path), "root_path": ""}
        claimed = next(r for r in DECLARED if r.matches(dict(scope))[0] == Match.FULL)
        assert claimed is route, f"{method} {_example(route.path)} is claimed by {claimed.path}, not {route.path}"


def test_a_router_without_sign_in_is_refused_where_routes_are_secured() -> None:
    forgotten = APIRouter(prefix="/api/v1/forgotten")

    @forgotten.get("")
    async def listing() -> dict[str, str]:
        return {}

    with pytest.raises(RuntimeError, match="/api/v1/forgotten must require a signed-in caller"):
        secured(forgotten)

    declared = APIRouter(prefix="/api/v1/declared", dependencies=SIGNED_IN)

    @declared.get("")
    async def other() -> dict[str, str]:
        return {}

    assert secured(declared) == (declared,)

"""End to end: the data node library on the distributed platform (five OS processes, RabbitMQ, PostgreSQL).

A CSV export of 1,000 orders is parsed, filtered, grouped, sorted and folded into one summary item; the
catalog the gateway serves carries the examples; bad parameters are refused at save with a 422 naming the node.
"""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from typing import Any

import httpx

REGIONS = ("north", "south", "east", "west", "centre")


def orders_csv(rows: int = 1_000) -> tuple[str, list[dict[str, Any]]]:
    generator = random.Random(11)
    orders = [
        {
            "id": index,
            "region": generator.choice(REGIONS),
            "status": generator.choice(("paid", "paid", "refunded", "open")),
            "total": round(generator.uniform(1, 500), 2),
        }
        for index in range(rows)
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["id", "region", "status", "total"])
    writer.writeheader()
    writer.writerows(orders)
    return buffer.getvalue(), orders


PIPELINE = {
    "name": "orders report",
    "nodes": [
        {"id": "start", "type": "manual_trigger"},
        {"id": "rows", "type": "parse_csv", "params": {"field": "csv", "infer_types": True}},
        {
            "id": "paid",
            "type": "filter",
            "params": {
                "conditions": [
                    {"field": "status", "operator": "equals", "value": "paid"},
                    {"field": "total", "operator": "gte", "value": 20},
                ]
            },
        },
        {
            "id": "by_region",
            "type": "summarize",
            "params": {
                "group_by": ["region"],
                "aggregations": [
                    {"operation": "count", "to": "orders"},
                    {"operation": "sum", "field": "total", "to": "revenue"},
                    {"operation": "max", "field": "total", "to": "largest"},
                ],
            },
        },
        {"id": "ranked", "type": "sort", "params": {"keys": [{"field": "revenue", "direction": "desc"}]}},
        {"id": "report", "type": "aggregate", "params": {"to": "regions"}},
    ],
    "edges": [
        {"from": "start", "to": "rows"},
        {"from": "rows", "to": "paid"},
        {"from": "paid", "to": "by_region"},
        {"from": "by_region", "to": "ranked"},
        {"from": "ranked", "to": "report"},
    ],
}


def test_csv_of_a_thousand_rows_to_one_summary_item(api: httpx.Client) -> None:
    text, orders = orders_csv()
    created = api.post("/api/v1/workflows", json=PIPELINE)
    assert created.status_code == 201, created.text
    response = api.post(
        f"/api/v1/workflows/{created.json()['id']}/run", params={"wait": "true"}, json={"input": [{"csv": text}]}
    )
    assert response.status_code == 200, response.text
    execution = response.json()
    assert execution["status"] == "succeeded", execution

    expected: dict[str, dict[str, Any]] = defaultdict(lambda: {"orders": 0, "revenue": 0.0, "largest": 0.0})
    for order in orders:
        if order["status"] == "paid" and order["total"] >= 20:
            group = expected[order["region"]]
            group["orders"] += 1
            group["revenue"] += order["total"]
            group["largest"] = max(group["largest"], order["total"])
    [summary] = execution["output"]
    regions = summary["regions"]
    assert [r["region"] for r in regions] == sorted(expected, key=lambda name: -expected[name]["revenue"])
    for region in regions:
        want = expected[region["region"]]
        assert region["orders"] == want["orders"]
        assert abs(region["revenue"] - want["revenue"]) < 1e-6
        assert region["largest"] == want["largest"]
    nodes = execution["nodes"]
    assert len(nodes["rows"]["output"]) == 1_000
    assert len(nodes["paid"]["output"]) == sum(r["orders"] for r in regions)
    assert all(nodes[n]["status"] == "succeeded" for n in ("rows", "paid", "by_region", "ranked", "report"))


def test_catalog_serves_examples_and_bad_params_are_a_422(api: httpx.Client) -> None:
    catalog = api.get("/api/v1/nodes")
    assert catalog.status_code == 200
    entries = {entry["type"]: entry for entry in catalog.json()}
    assert {"filter", "sort", "summarize", "parse_csv", "hmac", "extract_html"} <= entries.keys()
    example = entries["filter"]["examples"][0]
    assert {"title", "params", "input", "output"} <= example.keys() and example["output"]["main"]
    assert entries["uuid"]["deterministic"] is False and entries["sort"]["pure"] is True

    bad = {
        "name": "bad sort",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "order", "type": "sort", "params": {"keys": [{"field": "n", "direction": "sideways"}]}},
        ],
        "edges": [{"from": "start", "to": "order"}],
    }
    refused = api.post("/api/v1/workflows", json=bad)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_workflow"
    assert error["message"].startswith("invalid workflow: node 'order': invalid params for sort: keys.0.direction")


def test_bad_data_fails_the_node_naming_item_and_field(api: httpx.Client) -> None:
    definition = {
        "name": "bad data",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "when", "type": "parse_date", "params": {"field": "at"}},
        ],
        "edges": [{"from": "start", "to": "when"}],
    }
    created = api.post("/api/v1/workflows", json=definition)
    assert created.status_code == 201, created.text
    execution = api.post(
        f"/api/v1/workflows/{created.json()['id']}/run",
        params={"wait": "true"},
        json={"input": [{"at": "2026-01-01"}, {"at": "someday"}]},
    ).json()
    assert execution["status"] == "failed"
    assert execution["nodes"]["when"]["error"] == ("item 1: field 'at': expected an ISO 8601 date, got 'someday'")

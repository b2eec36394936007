"""The ``browser`` node: a headless Chromium step per item — open a URL, then a list of steps (wait for a
selector, click, fill, extract text or attributes, take a screenshot, evaluate a script).

Each item gets a fresh browser context in the worker's one Chromium (:mod:`flowtape.connectors.browsers`),
and every request its page makes goes through the SSRF guard. A screenshot becomes binary data on the item
(``{"$binary": {...}}``, :mod:`flowtape.common.binary`), never base64 in the log. ``timeout`` bounds the whole
item, capped by ``FLOWTAPE_BROWSER_MAX_SECONDS``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flowtape.common.errors import EgressRefused, NodeError
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType
from flowtape.connectors.browsers import PageTraffic
from flowtape.connectors.connections import Connections

_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WaitForStep(_Step):
    action: Literal["wait_for"]
    selector: str = Field(min_length=1, description="a CSS (or Playwright) selector")
    state: Literal["attached", "detached", "visible", "hidden"] = "visible"


class ClickStep(_Step):
    action: Literal["click"]
    selector: str = Field(min_length=1)


class FillStep(_Step):
    action: Literal["fill"]
    selector: str = Field(min_length=1)
    value: str = Field(description="the text typed into the field (replaces what it held)")


class ExtractStep(_Step):
    action: Literal["extract"]
    selector: str = Field(min_length=1)
    name: str = Field(pattern=_NAME, description="the output field the value goes to")
    attribute: str | None = Field(default=None, description="an attribute's value instead of the element's text")
    all: bool = Field(default=False, description="a list with every matching element instead of the first")


class ScreenshotStep(_Step):
    action: Literal["screenshot"]
    name: str = Field(default="screenshot", pattern=_NAME, description="the output field of the binary reference")
    full_page: bool = False
    selector: str | None = Field(default=None, description="only this element")
    file_name: str = Field(default="screenshot.png", min_length=1, max_length=200)


class EvaluateStep(_Step):
    action: Literal["evaluate"]
    script: str = Field(
        min_length=1, description="a JavaScript expression or function run in the page; its JSON result is kept"
    )
    name: str = Field(default="result", pattern=_NAME)


class WaitStep(_Step):
    action: Literal["wait"]
    seconds: float = Field(gt=0, le=60)


Step = Annotated[
    WaitForStep | ClickStep | FillStep | ExtractStep | ScreenshotStep | EvaluateStep | WaitStep,
    Field(discriminator="action"),
]


class BrowserParams(NodeParams):
    url: str = Field(min_length=1, description="the page to open (http or https)")
    steps: list[Step] = Field(default_factory=list, max_length=100, description="what to do on the page, in order")
    wait_until: Literal["load", "domcontentloaded", "networkidle", "commit"] = "load"
    timeout: float = Field(default=30.0, gt=0, le=3600, description="seconds for the whole item")
    user_agent: str | None = Field(default=None, max_length=500)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("the browser opens http:// and https:// URLs only")
        return value


class BrowserNode(NodeType[BrowserParams]):
    """Outputs per item ``{"url", "status", "title", <each extract/screenshot/evaluate name>, "refused"}``:
    ``url`` where the page ended up, ``refused`` the page's requests the SSRF guard or the scheme rules refused."""

    type = "browser"
    category = "web"
    description = (
        "Drive a headless Chromium: open a URL, wait for selectors, click, fill, extract text or attributes, "
        "take a screenshot (binary data on the item) or evaluate a script; every request passes the SSRF guard."
    )
    Params = BrowserParams
    #: the page is the remote site's current state
    deterministic = False
    examples = (
        NodeExample(
            title="Read a product's price and stock from its page (the shop's site is at the item's base_url)",
            params={
                "url": "{{ item.base_url }}/shop/products/{{ item.sku }}",
                "steps": [
                    {"action": "wait_for", "selector": ".price"},
                    {"action": "extract", "selector": ".price", "name": "price"},
                    {"action": "extract", "selector": "#stock", "attribute": "data-count", "name": "stock"},
                ],
            },
            input=[{"base_url": "https://shop.example", "sku": "MUG-02"}],
            output={
                "main": [
                    {
                        "url": "https://shop.example/shop/products/MUG-02",
                        "status": 200,
                        "title": "Enamel mug",
                        "price": "12.50 EUR",
                        "stock": "14",
                        "refused": [],
                    }
                ]
            },
        ),
        NodeExample(
            title="Search the shop's site and keep a screenshot of the results",
            params={
                "url": "{{ item.base_url }}/shop/",
                "steps": [
                    {"action": "fill", "selector": "input[name=q]", "value": "{{ item.query }}"},
                    {"action": "click", "selector": "button[type=submit]"},
                    {"action": "wait_for", "selector": ".result"},
                    {"action": "evaluate", "script": "document.querySelectorAll('.result').length", "name": "hits"},
                    {"action": "screenshot", "name": "page", "file_name": "results.png"},
                ],
            },
            input=[{"base_url": "https://shop.example", "query": "mug"}],
            output={
                "main": [
                    {
                        "url": "https://shop.example/shop/search?q=mug",
                        "status": 200,
                        "title": "Search: mug",
                        "hits": 1,
                        "page": {
                            "$binary": {
                                "id": "bin_Jq3xv9V1a8mZ0cRk2bTn4sWe",
                                "mime_type": "image/png",
                                "file_name": "results.png",
                                "size": 48213,
                            }
                        },
                        "refused": [],
                    }
                ]
            },
        ),
    )

    def __init__(self, connections: Connections) -> None:
        self._connections = connections

    async def run_item(self, ctx: NodeContext, params: BrowserParams, item: Item) -> NodeResult:
        limit = min(params.timeout, self._connections.browser_max_seconds)
        if ctx.timeout_seconds:
            limit = min(limit, ctx.timeout_seconds)
        async with self._connections.browsers.context(user_agent=params.user_agent) as (context, traffic):
            try:
                out = await asyncio.wait_for(self._visit(ctx, context, traffic, params, limit), limit)
            except TimeoutError:
                raise NodeError(
                    f"the browser did not finish {params.url} within {limit:g} s (raise the node's timeout, or "
                    "FLOWTAPE_BROWSER_MAX_SECONDS)"
                ) from None
        return NodeResult.on([out])

    async def _visit(
        self, ctx: NodeContext, context: Any, traffic: PageTraffic, params: BrowserParams, limit: float
    ) -> Item:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit

        def remaining_ms() -> float:
            # a step's own wait ends a little before the item's limit, so its error names the step
            return max(100.0, (deadline - loop.time() - 0.3) * 1000)

        page = await context.new_page()
        out: Item = {}
        try:
            response = await page.goto(params.url, wait_until=params.wait_until, timeout=remaining_ms())
        except PlaywrightError as exc:
            refused = traffic.refused_navigation()
            if refused is not None:
                raise EgressRefused(
                    f"the browser may not open {refused['url']}: {refused['reason']}", {"url": refused["url"]}
                ) from None
            if isinstance(exc, PlaywrightTimeout):
                raise NodeError(
                    f"the browser did not finish opening {params.url} within {limit:g} s (raise the node's timeout, "
                    "or FLOWTAPE_BROWSER_MAX_SECONDS)"
                ) from None
            raise NodeError(f"the browser could not open {params.url}: {_first_line(exc)}") from None
        for number, step in enumerate(params.steps, 1):
            page.set_default_timeout(remaining_ms())
            try:
                await self._step(ctx, page, step, out)
            except PlaywrightError as exc:
                refused = traffic.refused_navigation()
                if refused is not None:
                    raise EgressRefused(
                        f"step {number} ({step.action}): the browser may not open {refused['url']}: "
                        f"{refused['reason']}",
                        {"url": refused["url"]},
                    ) from None
                raise NodeError(f"step {number} ({step.action}) failed: {_first_line(exc)}") from None
        head: Item = {
            "url": traffic.redirected.get(page.url, page.url),
            "status": response.status if response is not None else None,
        }
        head["title"] = await page.title()
        return {**head, **out, "refused": [{"url": r["url"], "reason": r["reason"]} for r in traffic.refused]}

    async def _step(self, ctx: NodeContext, page: Any, step: Any, out: Item) -> None:
        if isinstance(step, WaitForStep):
            await page.wait_for_selector(step.selector, state=step.state)
        elif isinstance(step, ClickStep):
            await page.click(step.selector)
        elif isinstance(step, FillStep):
            await page.fill(step.selector, step.value)
        elif isinstance(step, ExtractStep):
            elements = await page.query_selector_all(step.selector)
            if not step.all:
                elements = elements[:1]
            values = [
                await (element.get_attribute(step.attribute) if step.attribute else element.inner_text())
                for element in elements
            ]
            out[step.name] = values if step.all else (values[0] if values else None)
        elif isinstance(step, ScreenshotStep):
            if step.selector:
                image = await page.locator(step.selector).first.screenshot(type="png")
            else:
                image = await page.screenshot(type="png", full_page=step.full_page)
            info = await ctx.binaries.put(image, mime_type="image/png", file_name=step.file_name)
            out[step.name] = info.reference()
        elif isinstance(step, EvaluateStep):
            value = await page.evaluate(step.script)
            ctx.check_output(value, f"the result of the script of step {step.name!r}")
            out[step.name] = value
        elif isinstance(step, WaitStep):
            await page.wait_for_timeout(step.seconds * 1000)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines() or ["(no message)"])[0][:300]

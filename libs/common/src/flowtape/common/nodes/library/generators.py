"""Values that differ on every run: UUIDs (v4, v7) and random values.

These nodes are pure (no I/O; the engine evaluates them inline) but not deterministic: their output is
recorded in the log like any node's, so replay and time travel show the values the run really used. A
``seed`` makes ``random`` (and ``uuid`` v4) reproducible, for tests.
"""

from __future__ import annotations

import random as stdlib_random
import secrets
import string
import uuid
from typing import Any, Literal

import uuid6
from pydantic import Field, model_validator

from flowtape.common.errors import NodeError
from flowtape.common.nodes.library.paths import FieldPath, set_path
from flowtape.common.nodes.sdk import Item, NodeContext, NodeExample, NodeParams, NodeResult, NodeType

__all__ = ["GENERATOR_NODES", "RandomNode", "UuidNode"]

MAX_RANDOM_LENGTH = 10_000
_ALPHABETS = {
    "alphanumeric": string.ascii_letters + string.digits,
    "letters": string.ascii_letters,
    "digits": string.digits,
    "hex": "0123456789abcdef",
}


class UuidParams(NodeParams):
    version: Literal[4, 7] = Field(default=4, description="4: random; 7: time-ordered (sorts by creation time).")
    to: FieldPath = Field(default="id", description="The field to write the UUID to.")
    seed: int | None = Field(default=None, description="Version 4 only: derive the UUIDs from this seed (tests).")


class UuidNode(NodeType[UuidParams]):
    type = "uuid"
    category = "crypto"
    description = "Writes a new UUID (v4 random or v7 time-ordered) onto each item."
    Params = UuidParams
    mode = "batch"
    pure = True
    deterministic = False
    examples = (
        NodeExample(
            title="Reproducible v4 ids from a seed",
            params={"version": 4, "seed": 42},
            input=[{"n": 1}, {"n": 2}],
            output={
                "main": [
                    {"n": 1, "id": "bdd640fb-0667-4ad1-9c80-317fa3b1799d"},
                    {"n": 2, "id": "23b8c1e9-3924-46de-beb1-3b9046685257"},
                ]
            },
        ),
    )

    async def run(self, ctx: NodeContext, params: UuidParams, items: list[Item]) -> NodeResult:
        if params.version == 7:
            if params.seed is not None:
                raise NodeError("invalid parameters for uuid: a seed is only for version 4")
            ids = [str(uuid6.uuid7()) for _ in items]
        elif params.seed is not None:
            generator = stdlib_random.Random(params.seed)
            ids = [str(uuid.UUID(int=generator.getrandbits(128), version=4)) for _ in items]
        else:
            ids = [str(uuid.uuid4()) for _ in items]
        return NodeResult.on([set_path(item, params.to, value) for item, value in zip(items, ids, strict=True)])


class RandomParams(NodeParams):
    kind: Literal["integer", "float", "boolean", "choice", "string"] = Field(
        default="integer",
        description="integer in [min, max]; float in [min, max); boolean; choice of one of 'choices'; string of "
        "'length' characters from 'alphabet'.",
    )
    to: FieldPath = Field(default="random", description="The field to write the value to.")
    min: float = Field(default=0, allow_inf_nan=False)
    max: float = Field(default=100, allow_inf_nan=False)
    choices: list[Any] = Field(default_factory=list, description="For 'choice': the values to pick from.")
    length: int = Field(default=16, ge=1, le=MAX_RANDOM_LENGTH, description="For 'string': how many characters.")
    alphabet: Literal["alphanumeric", "letters", "digits", "hex"] = Field(default="alphanumeric")
    seed: int | None = Field(
        default=None,
        description="Make the values reproducible (tests); without it they come from the OS's cryptographic source.",
    )

    @model_validator(mode="after")
    def _coherent(self) -> RandomParams:
        if self.min > self.max:
            raise ValueError("min must not be greater than max")
        if self.kind == "choice" and not self.choices:
            raise ValueError("kind 'choice' needs a non-empty 'choices' list")
        return self


class RandomNode(NodeType[RandomParams]):
    type = "random"
    category = "crypto"
    description = "Writes a random integer, float, boolean, choice or string onto each item (optionally seeded)."
    Params = RandomParams
    mode = "batch"
    pure = True
    deterministic = False
    examples = (
        NodeExample(
            title="A seeded die roll",
            params={"kind": "integer", "min": 1, "max": 6, "to": "roll", "seed": 7},
            input=[{"player": "a"}, {"player": "b"}],
            output={"main": [{"player": "a", "roll": 3}, {"player": "b", "roll": 2}]},
        ),
    )

    async def run(self, ctx: NodeContext, params: RandomParams, items: list[Item]) -> NodeResult:
        generator: stdlib_random.Random = (
            stdlib_random.Random(params.seed) if params.seed is not None else secrets.SystemRandom()
        )
        output = [set_path(item, params.to, self._value(generator, params)) for item in items]
        if params.kind == "string":
            ctx.check_output(output)
        return NodeResult.on(output)

    @staticmethod
    def _value(generator: stdlib_random.Random, params: RandomParams) -> Any:
        if params.kind == "integer":
            return generator.randint(int(params.min), int(params.max))
        if params.kind == "float":
            return generator.uniform(params.min, params.max)
        if params.kind == "boolean":
            return generator.random() < 0.5
        if params.kind == "choice":
            return generator.choice(params.choices)
        alphabet = _ALPHABETS[params.alphabet]
        return "".join(generator.choice(alphabet) for _ in range(params.length))


GENERATOR_NODES: tuple[type[NodeType[Any]], ...] = (UuidNode, RandomNode)

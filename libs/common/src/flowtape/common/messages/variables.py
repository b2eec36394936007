"""Messages about variables (``vars.NAME`` in expressions), which the connectors own.

A variable is plain or secret, at platform level or at workflow level (a workflow's own overrides the
platform's of the same name). A secret value crosses the bus only sealed to the connectors' key, exactly as
credential data does (see :mod:`flowtape.common.messages.connectors`), and no reply ever holds one: views of a
secret variable say ``secret: true`` and carry no value. The engine asks for a run's variables once, when the
run starts, and records the plain values and the *names* of the secret ones in the run's log.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from flowtape.common.messages.auth import Actor
from flowtape.common.messages.base import Message
from flowtape.common.projects import DEFAULT_PROJECT

#: what expressions can write after ``vars.``: a Python-style identifier
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_VALUE_LENGTH = 8192
#: what a secret variable reads as where its value must not be (the engine, the log, the API)
SECRET_PLACEHOLDER = "[secret]"


def checked_name(name: str) -> str:
    """A ValueError (so a 422 naming the field at the gateway) for a name expressions could not read."""
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"variable name {name!r} is not valid: use letters, digits and _ (not starting with a digit), "
            "at most 64 characters, so that expressions can read it as vars.NAME"
        )
    return name


VariableName = Annotated[str, AfterValidator(checked_name)]


class VariableView(BaseModel):
    """A variable as anyone signed in may see it: a secret one without its value."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    #: None for a project's variable
    workflow_id: str | None = None
    #: the project of the variable (of its workflow, for a workflow's own)
    project_id: str = DEFAULT_PROJECT
    secret: bool = False
    #: the value of a plain variable; always None for a secret one
    value: str | None = None
    updated_at: datetime


class VariableList(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    items: list[VariableView]


class SetVariable(Message):
    """Create or replace a variable; answered with its :class:`VariableView`. A secret's value is sealed."""

    type_name = "connectors.SetVariable.v1"
    kind = "command"
    name: VariableName
    workflow_id: str | None = None
    #: the project whose variable this is when ``workflow_id`` is None
    project_id: str = DEFAULT_PROJECT
    secret: bool = False
    value: str | None = Field(default=None, max_length=MAX_VALUE_LENGTH)
    sealed_value: str | None = None
    actor: Actor | None = None


class UnsetVariable(Message):
    """Remove a variable; answered with the view it had, NotFound when there was none."""

    type_name = "connectors.UnsetVariable.v1"
    kind = "command"
    name: VariableName
    workflow_id: str | None = None
    project_id: str = DEFAULT_PROJECT
    actor: Actor | None = None


class ListVariables(Message):
    """A project's variables (``workflow_id`` None) or one workflow's own, by name."""

    type_name = "connectors.ListVariables.v1"
    kind = "query"
    workflow_id: str | None = None
    project_id: str = DEFAULT_PROJECT


class ResolveVariables(Message):
    """What a run of ``workflow_id`` sees as ``vars``: its project's variables overridden by the workflow's own
    (the plain values, and the names of the secret ones)."""

    type_name = "connectors.ResolveVariables.v1"
    kind = "query"
    workflow_id: str
    project_id: str = DEFAULT_PROJECT


class ResolvedVariables(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    plain: dict[str, str] = Field(default_factory=dict)
    secret: list[str] = Field(default_factory=list)

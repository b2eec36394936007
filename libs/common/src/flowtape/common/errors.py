"""One error tree for every service; the gateway alone maps it to HTTP statuses.

    FlowtapeError                 code            meaning
    ├── InvalidInput              invalid_input   the caller sent something malformed
    │   ├── InvalidWorkflow       invalid_workflow  a definition fails validation (names node/edge)
    │   ├── InvalidCredential     invalid_credential  credential data does not fit its type (names fields)
    │   └── InvalidMessage        invalid_message   a bus message failed its contract (dead-lettered)
    ├── NotFound                  not_found
    │   └── Pruned                pruned          retention removed the run's log (its summary remains): 410
    ├── Conflict                  conflict
    ├── PayloadTooLarge           payload_too_large
    ├── Unauthorized              unauthorized
    ├── Forbidden                 forbidden
    ├── RateLimited               rate_limited
    ├── TimedOut                  timeout         an operation or a node ran out of time
    ├── Unavailable               unavailable     a dependency (broker, database, peer service) is down
    │   └── BusUnavailable        unavailable     this process's own connection to the broker is down (a restart)
    └── NodeError                 node_error      a node failed while running (recorded, not raised to clients)
        ├── OutputTooLarge        output_too_large  its output passed the size or nesting limit (FLOWTAPE_MAX_*)
        ├── EgressRefused         egress_refused  the SSRF guard refused the address a node wanted to reach
        ├── RemoteRateLimited     rate_limited    the remote side answered 429: retried after its Retry-After
        └── WorkflowStopped       stopped         a stop_and_error node ended the run with its message

Errors cross the bus as :class:`ErrorInfo` and are rebuilt with :func:`error_from_info`, so a 404 raised in
the engine is a 404 at the gateway.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class ErrorInfo(BaseModel):
    """The wire shape of an error: also the `error` object of API responses."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    details: Any = None


class FlowtapeError(Exception):
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def info(self) -> ErrorInfo:
        return ErrorInfo(code=self.code, message=self.message, details=self.details)


class InvalidInput(FlowtapeError):
    code = "invalid_input"


class InvalidWorkflow(InvalidInput):
    code = "invalid_workflow"


class InvalidCredential(InvalidInput):
    """Names the fields that do not fit, never their values (they are secrets)."""

    code = "invalid_credential"


class InvalidMessage(InvalidInput):
    code = "invalid_message"


class NotFound(FlowtapeError):
    code = "not_found"


class Pruned(NotFound):
    """What asked for a run's log (events, time travel) after retention removed it."""

    code = "pruned"


class Conflict(FlowtapeError):
    code = "conflict"


class PayloadTooLarge(FlowtapeError):
    code = "payload_too_large"


class Unauthorized(FlowtapeError):
    code = "unauthorized"


class Forbidden(FlowtapeError):
    code = "forbidden"


class RateLimited(FlowtapeError):
    code = "rate_limited"


class TimedOut(FlowtapeError):
    code = "timeout"


class Unavailable(FlowtapeError):
    code = "unavailable"


#: PostgreSQL's SQLSTATE classes of a database that cannot serve now but may in a moment: a lost or refused
#: connection (08), too many clients or no memory or disk (53), a server shutting down or starting (57P)
_TRANSIENT_SQLSTATES = ("08", "53", "57P")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is out of reach or out of room for now (not that the request is wrong):
    the driver's SQLSTATE, as SQLAlchemy wraps it, or a refused or dropped connection."""
    if isinstance(exc, ConnectionRefusedError | ConnectionResetError):
        return True
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(state, str) and state.startswith(_TRANSIENT_SQLSTATES)


class BusUnavailable(Unavailable):
    """Raised by the bus adapter when the broker refuses or drops the call itself (it is restarting, or out of
    reach): no peer was asked, so trying again once the connection is back is safe."""


class NodeError(FlowtapeError):
    code = "node_error"


class OutputTooLarge(NodeError):
    code = "output_too_large"


class EgressRefused(NodeError):
    """Names the host and address refused and the setting that opens it (``FLOWTAPE_EGRESS_ALLOW``)."""

    code = "egress_refused"


class RemoteRateLimited(NodeError):
    """The API a node called said "too many requests"; ``retry_after`` is its hint in seconds, if it gave one.

    The connectors pass the hint on with the node's failure, and the engine schedules the next attempt after
    it instead of failing the run.
    """

    code = "rate_limited"

    def __init__(self, message: str, details: Any = None, *, retry_after: float | None = None) -> None:
        super().__init__(message, details)
        self.retry_after = retry_after


class WorkflowStopped(NodeError):
    """Raised by ``stop_and_error``: the run fails with exactly this message."""

    code = "stopped"


def _all_subclasses(cls: type[FlowtapeError]) -> list[type[FlowtapeError]]:
    found: list[type[FlowtapeError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def error_from_info(info: ErrorInfo) -> FlowtapeError:
    """Rebuild the typed error a peer service raised."""
    classes: list[type[FlowtapeError]] = [FlowtapeError, *_all_subclasses(FlowtapeError)]
    for cls in classes:
        if cls.code == info.code:
            return cls(info.message, info.details)
    return FlowtapeError(info.message, info.details)

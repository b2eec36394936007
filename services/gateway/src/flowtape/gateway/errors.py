"""The only place an error becomes an HTTP status, in API.md's shape ``{"error": {code, message, details}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from flowtape.common import errors

log = logging.getLogger("flowtape.gateway")

STATUS: dict[type[errors.FlowtapeError], int] = {
    errors.InvalidWorkflow: 422,
    errors.InvalidCredential: 422,
    errors.InvalidMessage: 400,
    errors.InvalidInput: 400,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.RateLimited: 429,
    errors.TimedOut: 504,
    errors.Unavailable: 503,
    errors.NodeError: 422,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def status_of(error: errors.FlowtapeError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(status: int, code: str, message: str, details: object = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details}}, status_code=status)


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.FlowtapeError)
    async def flowtape_error(_: Request, exc: errors.FlowtapeError) -> JSONResponse:
        response = error_response(status_of(exc), exc.code, exc.message, exc.details)
        if isinstance(exc, errors.Unauthorized):
            response.headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, errors.RateLimited) and isinstance(exc.details, dict) and "retry_after" in exc.details:
            response.headers["Retry-After"] = str(int(exc.details["retry_after"]))
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": ".".join(str(p) for p in error["loc"]), "message": error["msg"]} for error in exc.errors()]
        first = details[0] if details else {"field": "body", "message": "invalid"}
        return error_response(
            422, "validation_error", f"invalid request: {first['field']}: {first['message']}", details
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "something went wrong on our side; the gateway log has details")

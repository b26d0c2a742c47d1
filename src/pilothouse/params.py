"""Query parameters the Kubilitics way: a bad one is ``400 invalid_parameter``, not a 422.

The rest of the API answers request validation errors with ``422 validation_failed`` (see
:mod:`pilothouse.errors`); the Cluster API spec lists ``invalid_parameter`` (400) for an invalid
query or path parameter. A router opts in with ``route_class=InvalidParameterRoute``; its routes
then keep FastAPI's declarative validation (``Query(ge=1, le=1000)``, ``Literal[...]``) and only
the status and code of the answer change. Errors about a request body stay 422.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from pilothouse.errors import BadRequest, validation_errors

_PARAMETER_LOCATIONS = frozenset({"query", "path"})


def invalid_parameter(name: str, message: str, **details: Any) -> BadRequest:
    """The ``400 invalid_parameter`` error for one parameter (services raise it too)."""
    return BadRequest(
        f"Invalid parameter '{name}': {message}",
        error="invalid_parameter",
        details={"parameter": name, **details},
    )


class InvalidParameterRoute(APIRoute):
    """An ``APIRoute`` answering query/path validation errors with ``400 invalid_parameter``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = validation_errors(exc.errors())
                if not errors or any(error["location"] not in _PARAMETER_LOCATIONS for error in errors):
                    raise
                first = errors[0]
                raise invalid_parameter(first["field"], first["message"], errors=errors) from exc

        return route_handler

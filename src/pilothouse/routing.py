"""Lean routes: the few routes every command passes through, handled without FastAPI's generic
per-request machinery.

FastAPI spends 100-250 µs of CPU on each request before and after the endpoint: two exit stacks,
the dependency graph (tens of µs per node), a ``email.message`` parse of the content type, the
body decoded twice, the router walked through included-router contexts, and on the way out the
response validated again. At a thousand commands a second that is most of a core. A
:class:`LeanRoute` is declared like any route, so its OpenAPI entry comes from the same
signature and models, but its endpoint may only take:

* ``request: Request``;
* path and query parameters (validated by the same fields FastAPI builds for them);
* one body parameter, a pydantic model, validated straight from the raw bytes;
* dependencies that take nothing but the request and other such dependencies (``ReadPrincipal``
  and the security schemes under it), run first, as FastAPI runs them, once per request each.

Anything else is refused when the route is declared. Errors are the common error body, the same
as on any route, and validation errors are FastAPI's. Three differences, none of which the app
relies on: credentials are checked before a malformed body is reported (401, where FastAPI
answers 422); ``app.dependency_overrides`` is not consulted; under the dispatcher only the
common error handlers apply (``errors.exception_response``).

Lean routes are matched before every other route, so include their routers first and give them
paths no earlier route claims.

:class:`LeanFastAPI` puts :class:`LeanRouteDispatch` in front of FastAPI's middleware: requests for
lean routes go through the app's own middleware (``add_middleware``) straight to them, without
FastAPI's outer layers and the router. A lean route in a plain FastAPI app is reached through the
router and behaves the same, a little slower.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.datastructures import QueryParams
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pilothouse.errors import exception_response, internal_error_response

if TYPE_CHECKING:
    from fastapi._compat import ModelField

Responder = Callable[[Request], Coroutine[Any, Any, Response]]

# Parsed query strings by their raw bytes: an executor asks for the same one on every long poll.
_QUERY_CACHE_SIZE = 256
_CACHED_QUERY_MAX_BYTES = 128
_parsed_queries: dict[bytes, QueryParams] = {}

_JSON_CONTENT_TYPE = re.compile(r"application/(?:[\w.+-]*\+)?json\s*(?:;.*)?", re.IGNORECASE)


def _unsupported(route: APIRoute, what: str) -> TypeError:
    return TypeError(f"LeanRoute {route.path} ({route.name}): {what} is not supported; use an APIRoute")


class LeanRoute(APIRoute):
    """An APIRoute whose requests skip dependency resolution and FastAPI's handler wrapping (see
    the module docstring for what its endpoint may take)."""

    lean_respond: Responder

    def get_route_handler(self) -> Responder:
        # Called by APIRoute.__init__ once the endpoint's parameters are known, and again for
        # each router the route is included in.
        self.lean_respond = _LeanHandler(self).respond
        return self.lean_respond


def _check_dependency(route: APIRoute, dependency: Dependant) -> None:
    """A dependency a lean route can run: an async callable of the request and of dependencies
    like itself."""
    if dependency.call is None or not _is_coroutine_callable(dependency.call):
        raise _unsupported(route, f"the dependency {dependency.call!r}, not async")
    if (
        dependency.path_params
        or dependency.query_params
        or dependency.header_params
        or dependency.cookie_params
        or dependency.body_params
        or dependency.websocket_param_name
        or dependency.response_param_name
        or dependency.background_tasks_param_name
        or dependency.security_scopes_param_name
    ):
        raise _unsupported(route, f"the dependency {dependency.call!r}, which takes more than the request")
    for sub_dependency in dependency.dependencies:
        _check_dependency(route, sub_dependency)


def _is_coroutine_callable(call: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(call):
        return True
    dunder_call = getattr(call, "__call__", None)  # noqa: B004 - instances with an async __call__
    return inspect.iscoroutinefunction(dunder_call)


async def _solve(dependency: Dependant, request: Request, solved: dict[Any, Any]) -> Any:
    """Run a checked dependency (see _check_dependency) and those it takes, each once."""
    call = dependency.call
    assert call is not None
    if call in solved:
        return solved[call]
    arguments: dict[str, Any] = {}
    for name in (dependency.request_param_name, dependency.http_connection_param_name):
        if name is not None:
            arguments[name] = request
    for sub_dependency in dependency.dependencies:
        value = await _solve(sub_dependency, request, solved)
        if sub_dependency.name is not None:
            arguments[sub_dependency.name] = value
    result = solved[call] = await call(**arguments)
    return result


def _query_params(scope: Scope) -> QueryParams:
    raw: bytes = scope["query_string"]
    parsed = _parsed_queries.get(raw)
    if parsed is None:
        parsed = QueryParams(raw)
        # Only short ones are kept: they are the repeated ones, and the cache stays small.
        if len(raw) <= _CACHED_QUERY_MAX_BYTES:
            if len(_parsed_queries) >= _QUERY_CACHE_SIZE:
                _parsed_queries.clear()
            _parsed_queries[raw] = parsed
    return parsed


class _LeanHandler:
    def __init__(self, route: APIRoute) -> None:
        dependant = route.dependant
        for dependency in dependant.dependencies:
            _check_dependency(route, dependency)
        embedded = bool(dependant.body_params) and (
            route._embed_body_fields or getattr(dependant.body_params[0].field_info, "embed", False)
        )
        for unsupported, present in (
            ("a def (not async) endpoint", not inspect.iscoroutinefunction(dependant.call)),
            ("a Response parameter", dependant.response_param_name),
            ("a BackgroundTasks parameter", dependant.background_tasks_param_name),
            ("an embedded body (Body(embed=True))", embedded),
            ("a header parameter", dependant.header_params),
            ("a cookie parameter", dependant.cookie_params),
            ("more than one body parameter", len(dependant.body_params) > 1),
            ("a streaming response", route.is_sse_stream or route.is_json_stream),
            (
                "response_model include/exclude options",
                route.response_model_include
                or route.response_model_exclude
                or route.response_model_exclude_unset
                or route.response_model_exclude_defaults
                or route.response_model_exclude_none,
            ),
        ):
            if present:
                raise _unsupported(route, unsupported)
        self.endpoint: Callable[..., Awaitable[Any]] = dependant.call  # type: ignore[assignment]
        self.request_param = dependant.request_param_name
        self.dependencies = dependant.dependencies
        self.path_params = dependant.path_params
        self.query_params = dependant.query_params
        self.body_name: str | None = None
        self.body_field: ModelField | None = None
        self.body_from_json = False
        self.body_adapter: TypeAdapter[Any] | None = None
        self.body_required = False
        if dependant.body_params:
            field = dependant.body_params[0]
            annotation = field.field_info.annotation
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                raise _unsupported(route, "a body that is not a pydantic model")
            self.body_name = field.name
            self.body_field = field
            self.body_adapter = TypeAdapter(annotation)
            # Validating from JSON accepts what a strict model refuses from Python values (a
            # datetime as a string): strict models take FastAPI's way.
            self.body_from_json = "strict" not in str(annotation.__pydantic_core_schema__)
            self.body_required = field.field_info.is_required()
        self.status_code = route.status_code or 200
        response_type = route.response_field.field_info.annotation if route.response_field else None
        self.response_model: type[BaseModel] | None = None
        if isinstance(response_type, type) and issubclass(response_type, BaseModel):
            self.response_model = response_type
        self.response_adapter: TypeAdapter[Any] | None = (
            TypeAdapter(response_type) if response_type is not None else None
        )

    async def respond(self, request: Request) -> Response:
        try:
            result = await self.endpoint(**(await self._arguments(request)))
        except Exception as exc:
            response = exception_response(exc, request)
            if response is None:
                raise
            return response
        if isinstance(result, Response):
            return result
        if not is_body_allowed_for_status_code(self.status_code):
            return Response(status_code=self.status_code)
        if self.response_adapter is None:
            # No declared type: FastAPI's encoding (jsonable_encoder), not pydantic's.
            return JSONResponse(jsonable_encoder(result), status_code=self.status_code)
        if self.response_model is None or not isinstance(result, self.response_model):
            # Whatever else the endpoint returned (a dict, another model) is validated against
            # the response model first, as FastAPI does: no field leaks through.
            result = self.response_adapter.validate_python(result, from_attributes=True)
        content = self.response_adapter.dump_json(result, by_alias=True)
        return Response(content, status_code=self.status_code, media_type="application/json")

    async def _arguments(self, request: Request) -> dict[str, Any]:
        values: dict[str, Any] = {}
        errors: list[Any] = []
        if self.request_param is not None:
            values[self.request_param] = request
        solved: dict[Any, Any] = {}
        for dependency in self.dependencies:
            value = await _solve(dependency, request, solved)
            if dependency.name is not None:
                values[dependency.name] = value
        if self.path_params:
            found, problems = request_params_to_args(self.path_params, request.path_params)
            values.update(found)
            errors.extend(problems)
        if self.query_params:
            found, problems = request_params_to_args(self.query_params, _query_params(request.scope))
            values.update(found)
            errors.extend(problems)
        body: Any = None
        if self.body_adapter is not None:
            assert self.body_name is not None
            body, problems = await self._body(request)
            values[self.body_name] = body
            errors.extend(problems)
        if errors:
            raise RequestValidationError(errors, body=body)
        return values

    async def _body(self, request: Request) -> tuple[Any, list[Any]]:
        """The body model, validated from the raw bytes in one step when it is JSON that fits;
        anything else is validated as FastAPI does it, so the errors are FastAPI's."""
        assert self.body_adapter is not None
        assert self.body_field is not None
        raw = await request.body()
        if not raw:
            if self.body_required:
                return None, [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
            return None, []
        content_type = request.headers.get("content-type")
        # Like FastAPI (strict content type): only a body that says it is JSON is parsed.
        is_json = content_type is not None and _JSON_CONTENT_TYPE.fullmatch(content_type) is not None
        if is_json:
            if self.body_from_json:
                try:
                    return self.body_adapter.validate_json(raw), []
                except ValidationError:
                    pass
            try:
                value: Any = json.loads(raw)
            except json.JSONDecodeError as exc:
                error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error"}
                return None, [{**error, "input": {}, "ctx": {"error": exc.msg}}]
        else:
            value = raw
        return self.body_field.validate(value, {}, loc=("body",))


class LeanRouteDispatch:
    """The front of a :class:`LeanFastAPI` app: a request for a lean route goes through the app's
    own middleware (``middleware``, the app's ``user_middleware``) straight to the route; any
    other request, and any other scope, goes to ``app``, FastAPI's whole stack. ``routes`` gives
    the app's routes (``app.routes``); they are read on the first request, once every router has
    been included.

    Lean requests so skip FastAPI's outer layers (its server-error, telemetry and body-limit
    middleware), each a coroutine every resumption of the request passes through, and the
    router. Errors are answered as there: the route answers its errors with the common body, and
    a bug gets the common 500 (from RequestContextMiddleware, or from here without it).
    """

    def __init__(
        self, app: ASGIApp, routes: Callable[[], Iterable[Any]], middleware: Sequence[Middleware] = ()
    ) -> None:
        self.app = app
        self._routes = routes
        self._exact: dict[tuple[str, str], LeanRoute] | None = None
        self._templated: list[tuple[re.Pattern[str], frozenset[str], LeanRoute]] = []
        lean: ASGIApp = _respond
        for cls, args, kwargs in reversed(middleware):
            lean = cls(lean, *args, **kwargs)
        self._lean = lean

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self._exact is None:
                self._index()
            assert self._exact is not None
            route = self._exact.get((scope["method"], scope["path"]))
            path_params: dict[str, Any] = {}
            if route is None and self._templated:
                route, path_params = self._match_templated(scope["method"], scope["path"])
            if route is not None:
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = path_params
                await self._serve_lean(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _serve_lean(self, scope: Scope, receive: Receive, send: Send) -> None:
        # What FastAPI's server-error middleware does for its requests: an exception that
        # escapes (a bug; RequestContextMiddleware answers those itself) gets the common 500 if
        # nothing was sent yet, and goes on to the server, which logs it.
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._lean(scope, receive, send_noting_start)
        except Exception as exc:
            if not started:
                await internal_error_response(exc)(scope, receive, send)
            raise

    def _match_templated(self, method: str, path: str) -> tuple[LeanRoute | None, dict[str, Any]]:
        for pattern, methods, route in self._templated:
            if method in methods and (found := pattern.fullmatch(path)) is not None:
                return route, found.groupdict()
        return None, {}

    def _index(self) -> None:
        exact: dict[tuple[str, str], LeanRoute] = {}
        for context in iter_route_contexts(list(self._routes())):
            route = context.original_route
            path = context.path
            if not isinstance(route, LeanRoute) or path is None:
                continue
            methods = frozenset(context.methods or ())
            pattern, _format, convertors = compile_path(path)
            if convertors:
                if any(type(convertor).__name__ != "StringConvertor" for convertor in convertors.values()):
                    raise _unsupported(route, "a path parameter that is not a string")
                self._templated.append((pattern, methods, route))
            else:
                for method in methods:
                    exact[(method, path)] = route
        self._exact = exact


async def _respond(scope: Scope, receive: Receive, send: Send) -> None:
    """The lean route :class:`LeanRouteDispatch` found, answering the request."""
    route: LeanRoute = scope["route"]
    response = await route.lean_respond(Request(scope, receive, send))
    await response(scope, receive, send)


class LeanFastAPI(FastAPI):
    """FastAPI, with requests for its lean routes dispatched in front of FastAPI's own middleware
    (see :class:`LeanRouteDispatch`)."""

    def build_middleware_stack(self) -> ASGIApp:
        return LeanRouteDispatch(
            super().build_middleware_stack(), routes=lambda: self.routes, middleware=self.user_middleware
        )

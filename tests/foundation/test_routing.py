"""LeanRoute answers exactly as an APIRoute would: the same endpoints are declared on a plain
router (``/plain``) and a lean one (``/lean``), and every request gets the same status, headers
that matter and body from both, with and without LeanRouteDispatch. The differences routing.py
documents are pinned by the ``test_documented_difference_*`` tests."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import httpx
import pytest
from fastapi import (
    APIRouter,
    BackgroundTasks,
    Body,
    Depends,
    FastAPI,
    Header,
    Path,
    Query,
    Request,
    Response,
)
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from pilothouse.app import create_app
from pilothouse.errors import NotFound, Unauthorized, install_error_handlers
from pilothouse.routing import LeanFastAPI, LeanRoute
from pilothouse.settings import Settings

# --- The endpoints, declared once per router ------------------------------------------------


class Tag(BaseModel):
    name: str = Field(min_length=1)
    weight: int = 0


class Thing(BaseModel):
    title: str = Field(min_length=1)
    count: int
    tags: list[Tag]


class ThingOut(BaseModel):
    title: str = Field(serialization_alias="displayTitle")
    tag_count: int
    tags: list[Tag]
    wait: float
    created_at: datetime
    note: str | None = None


class ThingOutWithSecret(ThingOut):
    secret: str


class StrictStamp(BaseModel):
    model_config = ConfigDict(strict=True)
    at: datetime
    id: uuid.UUID


CREATED_AT = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

# Calls of each dependency during the current test.
CALLS: Counter[str] = Counter()
# request.scope["route"] as the /items/{name} endpoint saw it.
SEEN_ROUTES: list[Any] = []


async def require_token(request: Request) -> str:
    CALLS["require_token"] += 1
    token = request.headers.get("X-Token")
    if not token:
        raise Unauthorized("Missing credentials: send X-Token")
    return token


_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_bearer = HTTPBearer(auto_error=False)


async def shared(request: Request) -> str:
    CALLS["shared"] += 1
    return f"shared:{request.method}"


# As pilothouse.auth.dependencies._principal_dependency: the security schemes under one
# dependency (plus one that the route also asks for directly).
async def principal(
    request: Request,
    api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    common: Annotated[str, Depends(shared)],
) -> str:
    CALLS["principal"] += 1
    presented = api_key or (bearer.credentials if bearer is not None else None)
    if not presented:
        raise Unauthorized("Missing credentials: send Authorization: Bearer or X-API-Key")
    return f"{presented}@{request.url.path.split('/')[1]}|{common}"


async def overridable() -> str:
    return "original"


class Teapot(Exception):
    pass


async def teapot_handler(_request: Request, _exc: Exception) -> Response:
    return JSONResponse({"teapot": True}, status_code=418)


def declare(router: APIRouter) -> None:
    @router.post("/things", summary="Create a thing")
    async def create_thing(body: Thing, wait: Annotated[float, Query(ge=0, le=60)] = 30) -> ThingOut:
        return ThingOut(
            title=body.title, tag_count=len(body.tags), tags=body.tags, wait=wait, created_at=CREATED_AT
        )

    @router.get("/items/{name}")
    async def get_item(
        request: Request,
        name: Annotated[str, Path(pattern="^[a-z]+$")],
        wait: Annotated[float, Query(ge=0, le=60)] = 30,
    ) -> dict[str, Any]:
        SEEN_ROUTES.append(request.scope.get("route"))
        return {"name": name, "wait": wait}

    @router.post("/guarded")
    async def guarded(body: Thing, token: Annotated[str, Depends(require_token)]) -> dict[str, Any]:
        return {"token": token, "title": body.title}

    @router.get("/whoami", dependencies=[Depends(shared)])
    async def whoami(
        who: Annotated[str, Depends(principal)], common: Annotated[str, Depends(shared)]
    ) -> dict[str, Any]:
        return {"who": who.replace("@lean", "@plain"), "common": common}

    @router.get("/missing")
    async def missing() -> None:
        raise NotFound.of("thing", "x")

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @router.post("/nothing")
    async def nothing() -> Response:
        return Response(status_code=204)

    @router.post("/accepted", status_code=202)
    async def accepted(body: Thing) -> dict[str, Any]:
        return {"accepted": body.title}

    @router.get("/leaky")
    async def leaky() -> ThingOut:
        # A dict for a response model: FastAPI validates it and keeps only the model's fields.
        leaked: Any = {
            "title": "t",
            "tag_count": 0,
            "tags": [],
            "wait": 1,
            "created_at": CREATED_AT,
            "password": "hunter2",
        }
        return leaked  # type: ignore[no-any-return]

    @router.get("/subclass")
    async def subclass() -> ThingOut:
        return ThingOutWithSecret(
            title="t", tag_count=0, tags=[], wait=1, created_at=CREATED_AT, secret="hunter2"
        )

    @router.get("/invalid-response")
    async def invalid_response() -> ThingOut:
        wrong: Any = {"title": "t", "password": "hunter2"}
        return wrong  # type: ignore[no-any-return]

    # No return annotation on purpose: FastAPI then writes the value with jsonable_encoder.
    @router.get("/unannotated")
    async def unannotated():  # type: ignore[no-untyped-def]
        return {"at": CREATED_AT, "amount": Decimal("1.5"), "took": timedelta(seconds=90)}

    @router.post("/strict")
    async def strict(body: StrictStamp) -> dict[str, Any]:
        return {"at": body.at, "id": body.id}

    @router.post("/empty", status_code=204)
    async def empty() -> None:
        return None

    @router.get("/teapot")
    async def teapot() -> None:
        raise Teapot()

    @router.get("/overridable")
    async def uses_overridable(value: Annotated[str, Depends(overridable)]) -> dict[str, Any]:
        return {"value": value}


class RouterReached:
    """A middleware recording the paths that went through FastAPI's router (which marks the scope)
    and the paths it saw at all."""

    def __init__(self, app: ASGIApp, reached: list[str], seen: list[str] | None = None) -> None:
        self.app = app
        self.reached = reached
        self.seen = seen if seen is not None else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.seen.append(scope["path"])
            if "router" in scope:
                self.reached.append(scope["path"])


def build_app(*, dispatch: bool, reached: list[str] | None = None, seen: list[str] | None = None) -> FastAPI:
    app = LeanFastAPI() if dispatch else FastAPI()
    install_error_handlers(app)
    app.add_exception_handler(Teapot, teapot_handler)
    plain = APIRouter(prefix="/plain")
    lean = APIRouter(prefix="/lean", route_class=LeanRoute)
    declare(plain)
    declare(lean)
    app.include_router(plain)
    app.include_router(lean)
    if reached is not None:
        app.add_middleware(RouterReached, reached=reached, seen=seen)
    return app


@pytest.fixture(autouse=True)
def _reset_records() -> None:
    CALLS.clear()
    SEEN_ROUTES.clear()


@pytest.fixture(params=[True, False], ids=["dispatch", "router"])
def dispatch(request: pytest.FixtureRequest) -> bool:
    value: bool = request.param
    return value


@pytest.fixture
def reached() -> list[str]:
    return []


@pytest.fixture
def app(dispatch: bool, reached: list[str]) -> FastAPI:
    return build_app(dispatch=dispatch, reached=reached)


def client_for(app: FastAPI, *, raise_app_exceptions: bool = False) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


VOLATILE = {"request_id", "trace_id", "timestamp"}
COMPARED_HEADERS = ("content-type", "allow", "www-authenticate")


def outcome(response: httpx.Response) -> tuple[int, dict[str, str], Any]:
    """What a client sees, minus the fields that differ between any two requests; the lean
    route's path is written as the plain one's (404/405 messages name the path)."""
    body: Any = response.json() if response.content else None
    if isinstance(body, dict):
        body = {key: value for key, value in body.items() if key not in VOLATILE}
    body = json.loads(json.dumps(body).replace("/lean/", "/plain/"))
    headers = {name: response.headers[name] for name in COMPARED_HEADERS if name in response.headers}
    return response.status_code, headers, body


async def both(
    client: httpx.AsyncClient, method: str, path: str, **kwargs: Any
) -> tuple[tuple[int, dict[str, str], Any], tuple[int, dict[str, str], Any]]:
    plain = await client.request(method, f"/plain{path}", **kwargs)
    plain_calls = dict(CALLS)
    CALLS.clear()
    lean = await client.request(method, f"/lean{path}", **kwargs)
    assert dict(CALLS) == plain_calls, "dependencies ran differently"
    return outcome(plain), outcome(lean)


def errors_of(result: tuple[int, dict[str, str], Any]) -> list[tuple[str, str, str]]:
    return [(item["location"], item["field"], item["type"]) for item in result[2]["details"]["errors"]]


# --- Bodies, query and path parameters ------------------------------------------------------

VALID = {"title": "a thing", "count": 2, "tags": [{"name": "red", "weight": 3}, {"name": "blue"}]}
VALID_BYTES = json.dumps(VALID).encode()
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("kwargs", "status", "expected_errors"),
    [
        pytest.param({"json": VALID}, 200, None, id="valid"),
        pytest.param({"json": {**VALID, "tags": []}}, 200, None, id="valid-empty-list"),
        pytest.param(
            {"content": VALID_BYTES, "headers": {"content-type": "application/json; charset=utf-8"}},
            200,
            None,
            id="json-with-charset",
        ),
        pytest.param(
            {"content": VALID_BYTES, "headers": {"content-type": "application/merge-patch+json"}},
            200,
            None,
            id="plus-json",
        ),
        pytest.param({}, 422, [("body", "body", "missing")], id="missing-body"),
        pytest.param(
            {"content": b"", "headers": JSON}, 422, [("body", "body", "missing")], id="empty-json-body"
        ),
        pytest.param(
            {"content": b'{"title": "x", "count": ', "headers": JSON},
            422,
            None,
            id="invalid-json",
        ),
        pytest.param(
            {"json": {**VALID, "count": "many"}}, 422, [("body", "count", "int_parsing")], id="wrong-type"
        ),
        pytest.param(
            {"json": {"count": 1, "tags": []}}, 422, [("body", "title", "missing")], id="missing-field"
        ),
        pytest.param(
            {"json": {**VALID, "title": ""}}, 422, [("body", "title", "string_too_short")], id="constraint"
        ),
        pytest.param(
            {"json": {**VALID, "tags": [{"name": "ok"}, {"name": ""}]}},
            422,
            [("body", "tags.1.name", "string_too_short")],
            id="nested-constraint",
        ),
        pytest.param(
            {"json": {**VALID, "tags": [{"name": "ok", "weight": "heavy"}]}},
            422,
            [("body", "tags.0.weight", "int_parsing")],
            id="nested-type",
        ),
        pytest.param(
            {"json": {"title": "", "tags": [{}]}},
            422,
            [
                ("body", "title", "string_too_short"),
                ("body", "count", "missing"),
                ("body", "tags.0.name", "missing"),
            ],
            id="several-errors",
        ),
        pytest.param(
            {"json": {**VALID, "count": "many"}, "params": {"wait": "-1"}},
            422,
            [("query", "wait", "greater_than_equal"), ("body", "count", "int_parsing")],
            id="query-and-body-errors",
        ),
        pytest.param({"json": [VALID]}, 422, None, id="json-array-instead-of-object"),
        pytest.param(
            {"content": VALID_BYTES, "headers": {"content-type": "text/plain"}},
            422,
            None,
            id="text-plain",
        ),
        pytest.param({"content": VALID_BYTES}, 422, None, id="no-content-type"),
        pytest.param({"json": VALID, "params": {"wait": "0"}}, 200, None, id="query-lower-bound"),
        pytest.param({"json": VALID, "params": {"wait": "60"}}, 200, None, id="query-upper-bound"),
        pytest.param({"json": VALID, "params": {"wait": "2.5"}}, 200, None, id="query-valid"),
        pytest.param(
            {"json": VALID, "params": {"wait": "61"}},
            422,
            [("query", "wait", "less_than_equal")],
            id="query-out-of-range",
        ),
        pytest.param(
            {"json": VALID, "params": {"wait": "soon"}},
            422,
            [("query", "wait", "float_parsing")],
            id="query-not-a-number",
        ),
    ],
)
async def test_body_and_query_as_fastapi(
    client: httpx.AsyncClient, kwargs: dict[str, Any], status: int, expected_errors: list[Any] | None
) -> None:
    plain, lean = await both(client, "POST", "/things", **kwargs)
    assert plain[0] == status
    assert lean == plain
    if expected_errors is not None:
        assert errors_of(lean) == expected_errors


async def test_response_model_serialised_as_fastapi(client: httpx.AsyncClient) -> None:
    plain, lean = await both(client, "POST", "/things", json=VALID, params={"wait": "1.5"})
    assert lean == plain
    status, headers, body = lean
    assert status == 200
    assert headers["content-type"] == "application/json"
    # serialization_alias, the nested list and the datetime as FastAPI writes them.
    assert body == {
        "displayTitle": "a thing",
        "tag_count": 2,
        "tags": [{"name": "red", "weight": 3}, {"name": "blue", "weight": 0}],
        "wait": 1.5,
        "created_at": "2026-01-02T03:04:05.678000Z",
        "note": None,
    }


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/items/abc", 200, id="valid"),
        pytest.param("/items/abc?wait=0.5", 200, id="valid-with-query"),
        pytest.param("/items/ABC", 422, id="pattern-mismatch"),
        pytest.param("/items/abc1", 422, id="pattern-mismatch-digit"),
        pytest.param("/items/ABC?wait=x", 422, id="path-and-query-errors"),
        pytest.param("/items/abc?wait=-0.1", 422, id="query-below-range"),
        pytest.param("/items/abc/extra", 404, id="no-such-path"),
    ],
)
async def test_path_parameters_as_fastapi(client: httpx.AsyncClient, path: str, status: int) -> None:
    plain, lean = await both(client, "GET", path)
    assert plain[0] == status
    assert lean == plain


async def test_path_and_query_errors_keep_their_locations(client: httpx.AsyncClient) -> None:
    _plain, lean = await both(client, "GET", "/items/ABC?wait=x")
    assert errors_of(lean) == [
        ("path", "name", "string_pattern_mismatch"),
        ("query", "wait", "float_parsing"),
    ]


# --- Dependencies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        pytest.param({"json": VALID}, 401, id="no-credentials"),
        pytest.param({"json": {"title": ""}}, 401, id="no-credentials-invalid-body"),
        pytest.param({}, 401, id="no-credentials-no-body"),
        pytest.param({"json": VALID, "headers": {"X-Token": "t-1"}}, 200, id="credentials"),
        pytest.param(
            {"json": {"title": ""}, "headers": {"X-Token": "t-1"}}, 422, id="credentials-invalid-body"
        ),
    ],
)
async def test_dependency_runs_before_body_validation(
    client: httpx.AsyncClient, kwargs: dict[str, Any], status: int
) -> None:
    plain, lean = await both(client, "POST", "/guarded", **kwargs)
    assert plain[0] == status
    assert lean == plain
    if status == 401:
        assert lean[2]["error"] == "unauthorized"
        assert lean[2]["details"]["code"] == "UNAUTHORIZED"


async def test_documented_difference_credentials_before_malformed_json(client: httpx.AsyncClient) -> None:
    """routing.py documents it: FastAPI parses the JSON before it solves dependencies (422), a lean
    route checks the credentials first (401)."""
    plain = await client.post("/plain/guarded", content=b'{"title": ', headers=JSON)
    lean = await client.post("/lean/guarded", content=b'{"title": ', headers=JSON)
    assert plain.status_code == 422
    assert plain.json()["details"]["errors"][0]["type"] == "json_invalid"
    assert lean.status_code == 401
    assert lean.json()["error"] == "unauthorized"
    with_credentials = await both(
        client, "POST", "/guarded", content=b'{"title": ', headers={**JSON, "X-Token": "t"}
    )
    assert with_credentials[1] == with_credentials[0]
    assert with_credentials[1][0] == 422


@pytest.mark.parametrize(
    ("headers", "status", "who"),
    [
        pytest.param({"X-API-Key": "key-1"}, 200, "key-1", id="api-key"),
        pytest.param({"Authorization": "Bearer tok-1"}, 200, "tok-1", id="bearer"),
        pytest.param({"X-API-Key": "key-1", "Authorization": "Bearer tok-1"}, 200, "key-1", id="both"),
        pytest.param({"Authorization": "Basic dXNlcjpwdw=="}, 401, None, id="not-bearer"),
        pytest.param({"Authorization": "Bearer"}, 401, None, id="bearer-without-token"),
        pytest.param({}, 401, None, id="none"),
    ],
)
async def test_security_dependencies_as_fastapi(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, who: str | None
) -> None:
    plain, lean = await both(client, "GET", "/whoami", headers=headers)
    assert plain[0] == status
    assert lean == plain
    if who is not None:
        assert lean[2] == {"who": f"{who}@plain|shared:GET", "common": "shared:GET"}


async def test_dependency_used_three_times_runs_once_per_request(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        response = await client.get("/lean/whoami", headers={"X-API-Key": "key-1"})
        assert response.status_code == 200
    # Route dependency, endpoint parameter and under principal: once for each request.
    assert dict(CALLS) == {"shared": 2, "principal": 2}


# --- Responses and errors -------------------------------------------------------------------


async def test_api_error_is_the_common_body(client: httpx.AsyncClient) -> None:
    plain, lean = await both(client, "GET", "/missing")
    assert lean == plain
    status, headers, body = lean
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert body["error"] == "not_found"
    assert body["message"] == "Thing not found: x"
    assert body["details"] == {"resource": "thing", "id": "x", "code": "THING_NOT_FOUND"}


async def test_unexpected_exception_propagates_as_from_an_apiroute(app: FastAPI) -> None:
    async with client_for(app, raise_app_exceptions=True) as raising:
        for prefix in ("/plain", "/lean"):
            with pytest.raises(RuntimeError, match="boom"):
                await raising.get(f"{prefix}/boom")
    async with client_for(app) as client:
        plain, lean = await both(client, "GET", "/boom")
    assert lean == plain
    assert lean[0] == 500
    assert lean[2]["error"] == "internal_error"


async def test_response_object_is_passed_through(client: httpx.AsyncClient) -> None:
    plain = await client.post("/plain/nothing")
    lean = await client.post("/lean/nothing")
    assert (lean.status_code, lean.content) == (plain.status_code, plain.content) == (204, b"")


async def test_declared_status_code(client: httpx.AsyncClient) -> None:
    plain, lean = await both(client, "POST", "/accepted", json=VALID)
    assert lean == plain == (202, {"content-type": "application/json"}, {"accepted": "a thing"})


async def test_wrong_method_is_405_as_fastapi(client: httpx.AsyncClient) -> None:
    plain, lean = await both(client, "GET", "/things")
    assert lean == plain
    assert lean[0] == 405
    assert lean[1]["allow"] == "POST"
    assert lean[2]["error"] == "method_not_allowed"


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/leaky", 200, id="dict-with-extra-key"),
        pytest.param("/subclass", 200, id="subclass-with-extra-field"),
        pytest.param("/invalid-response", 500, id="does-not-fit"),
    ],
)
async def test_response_model_validates_what_the_endpoint_returns(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    plain, lean = await both(client, "GET", path)
    assert lean == plain
    assert lean[0] == status
    assert "hunter2" not in json.dumps(lean[2])


async def test_no_content_status_has_no_body(client: httpx.AsyncClient) -> None:
    plain = await client.post("/plain/empty")
    lean = await client.post("/lean/empty")
    assert (plain.status_code, plain.content) == (204, b"")
    assert (lean.status_code, lean.content) == (204, b"")


async def test_unannotated_return_value_serialised_as_fastapi(client: httpx.AsyncClient) -> None:
    plain, lean = await both(client, "GET", "/unannotated")
    assert plain[2] == {"at": "2026-01-02T03:04:05.678000+00:00", "amount": 1.5, "took": 90.0}
    assert lean == plain


async def test_strict_model_body_as_fastapi(client: httpx.AsyncClient) -> None:
    body = {"at": "2026-01-02T03:04:05Z", "id": "6f1c7f3e-2b7c-4c1e-9d59-3d2f7b1c0a11"}
    plain, lean = await both(client, "POST", "/strict", json=body)
    assert plain[0] == 422
    assert lean == plain


async def test_documented_difference_dependency_overrides_not_consulted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """routing.py documents it: app.dependency_overrides applies to APIRoutes only."""

    async def replacement() -> str:
        return "overridden"

    app.dependency_overrides[overridable] = replacement
    plain, lean = await both(client, "GET", "/overridable")
    assert plain[2] == {"value": "overridden"}
    assert lean[2] == {"value": "original"}


# --- OpenAPI --------------------------------------------------------------------------------


def _comparable(entry: dict[str, Any], prefix: str) -> Any:
    """An operation without its id, and with the names FastAPI derives from the path (schema titles
    such as "Response Get Item Lean Items  Name  Get") written for the plain route."""
    without_ids = {
        method: {k: v for k, v in op.items() if k != "operationId"} for method, op in entry.items()
    }
    text = (
        json.dumps(without_ids)
        .replace(f" {prefix.capitalize()} ", " Plain ")
        .replace(f"_{prefix}_", "_plain_")
    )
    return json.loads(text)


async def test_openapi_entries_match(app: FastAPI) -> None:
    paths: dict[str, Any] = app.openapi()["paths"]
    plain = {path.removeprefix("/plain"): entry for path, entry in paths.items() if path.startswith("/plain")}
    lean = {path.removeprefix("/lean"): entry for path, entry in paths.items() if path.startswith("/lean")}
    assert set(lean) == set(plain)
    assert len(lean) >= 10
    for path, entry in plain.items():
        assert _comparable(lean[path], "lean") == _comparable(entry, "plain"), path
    security = plain["/whoami"]["get"]["security"]
    assert security == [{"APIKeyHeader": []}, {"HTTPBearer": []}]


# --- Declarations a lean route refuses ------------------------------------------------------


async def query_dependency(limit: int = 10) -> int:
    return limit


def sync_dependency(request: Request) -> str:
    return request.method


async def takes_sync_dependency(request: Request, inner: Annotated[str, Depends(sync_dependency)]) -> str:
    return inner


def with_header(router: APIRouter) -> None:
    @router.get("/header")
    async def endpoint(x_trace: Annotated[str | None, Header()] = None) -> None:
        return None


def with_query_dependency(router: APIRouter) -> None:
    @router.get("/query-dependency")
    async def endpoint(limit: Annotated[int, Depends(query_dependency)]) -> None:
        return None


def with_route_query_dependency(router: APIRouter) -> None:
    @router.get("/route-query-dependency", dependencies=[Depends(query_dependency)])
    async def endpoint() -> None:
        return None


def with_sync_dependency(router: APIRouter) -> None:
    @router.get("/sync-dependency")
    async def endpoint(value: Annotated[str, Depends(sync_dependency)]) -> None:
        return None


def with_nested_sync_dependency(router: APIRouter) -> None:
    @router.get("/nested-sync-dependency")
    async def endpoint(value: Annotated[str, Depends(takes_sync_dependency)]) -> None:
        return None


def with_two_bodies(router: APIRouter) -> None:
    @router.post("/two-bodies")
    async def endpoint(first: Thing, second: Tag) -> None:
        return None


def with_non_model_body(router: APIRouter) -> None:
    @router.post("/string-body")
    async def endpoint(text: Annotated[str, Body()]) -> None:
        return None


def with_sync_endpoint(router: APIRouter) -> None:
    @router.get("/sync-endpoint")
    def endpoint() -> dict[str, Any]:
        return {}


def with_response_parameter(router: APIRouter) -> None:
    @router.get("/response-parameter")
    async def endpoint(response: Response) -> dict[str, Any]:
        response.headers["X-Extra"] = "1"
        return {}


def with_background_tasks(router: APIRouter) -> None:
    @router.get("/background-tasks")
    async def endpoint(tasks: BackgroundTasks) -> dict[str, Any]:
        return {}


def with_embedded_body(router: APIRouter) -> None:
    @router.post("/embedded-body")
    async def endpoint(thing: Annotated[Thing, Body(embed=True)]) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize(
    "declaration",
    [
        pytest.param(with_header, id="header-parameter"),
        pytest.param(with_query_dependency, id="dependency-with-query"),
        pytest.param(with_route_query_dependency, id="route-dependency-with-query"),
        pytest.param(with_sync_dependency, id="sync-dependency"),
        pytest.param(with_nested_sync_dependency, id="nested-sync-dependency"),
        pytest.param(with_two_bodies, id="two-bodies"),
        pytest.param(with_non_model_body, id="non-model-body"),
        pytest.param(with_sync_endpoint, id="sync-endpoint"),
        pytest.param(with_response_parameter, id="response-parameter"),
        pytest.param(with_background_tasks, id="background-tasks"),
        pytest.param(with_embedded_body, id="embedded-body"),
    ],
)
def test_unsupported_declarations_are_refused(declaration: Callable[[APIRouter], None]) -> None:
    declaration(APIRouter())  # fine for FastAPI
    lean = APIRouter(route_class=LeanRoute)
    with pytest.raises(TypeError, match=r"^LeanRoute .* is not supported; use an APIRoute$"):
        declaration(lean)


def test_refused_when_the_route_is_added() -> None:
    lean = APIRouter(route_class=LeanRoute)

    async def endpoint(x_trace: Annotated[str | None, Header()] = None) -> None:
        return None

    with pytest.raises(TypeError, match="header parameter"):
        lean.add_api_route("/added", endpoint, methods=["GET"])


# --- LeanRouteDispatch ----------------------------------------------------------------------


async def test_exact_and_templated_lean_paths_are_dispatched(reached: list[str]) -> None:
    seen: list[str] = []
    app = build_app(dispatch=True, reached=reached, seen=seen)
    async with client_for(app) as client:
        assert (await client.post("/lean/things", json=VALID)).status_code == 200
        assert (await client.get("/lean/items/abc")).status_code == 200
        assert (await client.get("/lean/items/ABC")).status_code == 422
        assert (await client.get("/plain/items/abc")).status_code == 200
    # Only the plain route went through FastAPI's router; the app's middleware saw every request.
    assert reached == ["/plain/items/abc"]
    assert seen == ["/lean/things", "/lean/items/abc", "/lean/items/ABC", "/plain/items/abc"]
    lean_route, plain_route = SEEN_ROUTES
    assert isinstance(lean_route, LeanRoute)
    assert lean_route.path == "/lean/items/{name}"
    assert isinstance(plain_route, APIRoute)
    assert not isinstance(plain_route, LeanRoute)


async def test_without_dispatch_lean_routes_go_through_the_router(reached: list[str]) -> None:
    app = build_app(dispatch=False, reached=reached)
    async with client_for(app) as client:
        assert (await client.post("/lean/things", json=VALID)).status_code == 200
        assert (await client.get("/lean/items/abc")).status_code == 200
    assert reached == ["/lean/things", "/lean/items/abc"]
    (route,) = SEEN_ROUTES
    assert isinstance(route, LeanRoute)


async def test_other_methods_fall_through_to_fastapi(reached: list[str]) -> None:
    app = build_app(dispatch=True, reached=reached)
    async with client_for(app) as client:
        plain, lean = await both(client, "GET", "/things")
        items_plain, items_lean = await both(client, "DELETE", "/items/abc")
    assert lean == plain
    assert lean[0] == 405
    assert items_lean == items_plain
    assert items_lean[0] == 405
    assert reached == ["/plain/things", "/lean/things", "/plain/items/abc", "/lean/items/abc"]


async def test_documented_difference_app_exception_handlers_under_dispatch() -> None:
    """routing.py documents it: under the dispatcher only the common error handlers apply; an
    exception with a handler of its own is a 500 there."""
    app = build_app(dispatch=True)
    async with client_for(app) as client:
        plain, lean = await both(client, "GET", "/teapot")
    assert plain == (418, {"content-type": "application/json"}, {"teapot": True})
    assert lean[0] == 500
    assert lean[2]["error"] == "internal_error"


async def test_app_exception_handlers_apply_through_the_router() -> None:
    app = build_app(dispatch=False)
    async with client_for(app) as client:
        plain, lean = await both(client, "GET", "/teapot")
    assert lean == plain == (418, {"content-type": "application/json"}, {"teapot": True})


@pytest.mark.parametrize("dispatch", [True, False], ids=["dispatch", "router"])
async def test_documented_difference_lean_routes_match_first(dispatch: bool) -> None:
    """routing.py documents it: under the dispatcher lean routes are matched before every other
    route (the router keeps declaration order)."""
    app = LeanFastAPI() if dispatch else FastAPI()
    install_error_handlers(app)

    @app.get("/lean/items/special")
    async def special() -> dict[str, Any]:
        return {"special": True}

    lean = APIRouter(prefix="/lean", route_class=LeanRoute)
    declare(lean)
    app.include_router(lean)
    async with client_for(app) as client:
        response = await client.get("/lean/items/special")
    assert response.status_code == 200
    if dispatch:
        assert response.json() == {"name": "special", "wait": 30}
    else:
        assert response.json() == {"special": True}


# --- The real app ---------------------------------------------------------------------------

LEAN_ROUTES = {
    ("/debug/execute", "POST"),
    ("/debug/execute/async", "POST"),
    ("/agent/commands", "GET"),
    ("/agent/results", "POST"),
    ("/clusters/{cluster_id}/ping", "POST"),
}


def test_real_app_lean_routes_and_their_security(settings: Settings) -> None:
    app = create_app(settings)
    lean = {
        (context.path, method)
        for context in iter_route_contexts(list(app.routes))
        if isinstance(context.original_route, LeanRoute)
        for method in context.methods or ()
    }
    assert lean >= LEAN_ROUTES
    paths = app.openapi()["paths"]
    for path in ("/debug/execute", "/debug/execute/async", "/clusters/{cluster_id}/ping"):
        assert paths[path]["post"]["security"] == [{"APIKeyHeader": []}, {"HTTPBearer": []}], path
    # The executor routes authenticate in the endpoint, not through a security scheme.
    assert "security" not in paths["/agent/commands"]["get"]
    assert "security" not in paths["/agent/results"]["post"]
    assert {parameter["name"] for parameter in paths["/agent/commands"]["get"]["parameters"]} == {"wait"}
    assert isinstance(app, LeanFastAPI)


def test_query_strings_are_parsed_once_and_the_cache_is_bounded() -> None:
    from pilothouse.routing import _QUERY_CACHE_SIZE, _parsed_queries, _query_params

    first = _query_params({"query_string": b"wait=30&wait=5"})
    assert first.getlist("wait") == ["30", "5"]
    assert _query_params({"query_string": b"wait=30&wait=5"}) is first
    long = b"label=" + b"x" * 200
    assert _query_params({"query_string": long})["label"] == "x" * 200
    assert long not in _parsed_queries
    for index in range(_QUERY_CACHE_SIZE * 2):
        assert _query_params({"query_string": f"wait={index}".encode()})["wait"] == str(index)
    assert len(_parsed_queries) <= _QUERY_CACHE_SIZE

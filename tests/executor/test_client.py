"""AgentClient on its own: what each answer becomes, timeouts, and what it takes from the
environment (a proxy, a private CA), against the protocol double or a server made for the case."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from yarl import URL

from pilothouse.executor import client as client_module
from pilothouse.executor.client import (
    AgentClient,
    ServerUnavailable,
    Unauthorized,
    UnexpectedResponse,
    UnknownCommand,
    environment_proxy,
)
from pilothouse.executor.protocol import CommandResult
from pilothouse.executor.testing import ProtocolDouble, free_port, serve
from pilothouse.sim.serving import generate_tls

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_developer(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)


def agent_client(url: str, double: ProtocolDouble, *, token: str | None = None) -> AgentClient:
    return AgentClient(url, cluster_id=double.cluster_id, token=token or double.token, executor_id="exe_c")


RESULT = CommandResult(success=True, output="ok", exit_code=0, execution_time_ms=1)


# --- answers ------------------------------------------------------------------------------------


async def test_the_protocol_round_trip_with_every_header(double: ProtocolDouble, server_url: str) -> None:
    command_id = double.enqueue(["get", "pods"])
    async with agent_client(server_url, double) as client:
        commands, malformed = await client.poll(1, inflight=0)
        assert [command.id for command in commands] == [command_id]
        assert malformed == []
        await client.post_result(command_id, RESULT, inflight=1)
        assert await client.status(inflight=2) == {
            "cluster_id": double.cluster_id,
            "is_active": True,
            "queue_depth": 0,
        }
        assert await client.post_discovery([{"name": "pods"}], inflight=0) is True
        assert await client.poll(0, inflight=0) == ([], [])  # 204
    assert double.commands[command_id].result == RESULT.model_dump(mode="json")
    assert double.discovery == [{"name": "pods"}]
    assert [visit.inflight for visit in double.visits] == [0, 1, 2, 0, 0]
    assert {visit.executor_id for visit in double.visits} == {"exe_c"}


async def test_a_wrong_token_is_unauthorized(double: ProtocolDouble, server_url: str) -> None:
    async with agent_client(server_url, double, token="wrong") as client:
        with pytest.raises(Unauthorized, match="401 Invalid executor token"):
            await client.status(inflight=0)


async def test_5xx_means_unavailable_and_4xx_unexpected(double: ProtocolDouble, server_url: str) -> None:
    async with agent_client(server_url, double) as client:
        double.fail_with = 503
        with pytest.raises(ServerUnavailable, match="503 failure injected"):
            await client.poll(0, inflight=0)
        double.fail_with = 400
        with pytest.raises(UnexpectedResponse, match="400 failure injected") as raised:
            await client.post_result("cmd_1", RESULT, inflight=0)
        assert raised.value.status_code == 400


async def test_a_result_for_an_unknown_command(double: ProtocolDouble, server_url: str) -> None:
    async with agent_client(server_url, double) as client:
        with pytest.raises(UnknownCommand):
            await client.post_result("cmd_never", RESULT, inflight=0)


async def test_discovery_not_offered_is_false() -> None:
    double = ProtocolDouble(discovery_supported=False)
    async with serve(double.app) as url, agent_client(url, double) as client:
        assert await client.post_discovery([], inflight=0) is False


async def test_nobody_listening_is_unavailable(double: ProtocolDouble) -> None:
    async with agent_client(f"http://127.0.0.1:{free_port()}", double) as client:
        with pytest.raises(ServerUnavailable, match="GET /agent/status"):
            await client.status(inflight=0)


async def test_a_server_under_a_path_prefix(double: ProtocolDouble) -> None:
    app = Starlette(routes=[Route("/agent/status", _status)])
    app.mount("/pilothouse", double.app)
    async with serve(app) as url, agent_client(f"{url}/pilothouse/", double) as client:
        assert (await client.status(inflight=0))["cluster_id"] == double.cluster_id


async def _status(request: Request) -> Response:
    return PlainTextResponse("the prefix was dropped", status_code=500)


async def test_answers_the_protocol_does_not_allow(
    double: ProtocolDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def not_json(request: Request) -> Response:
        return PlainTextResponse("<html>gateway</html>")

    async def redirect(request: Request) -> Response:
        return RedirectResponse("/elsewhere", status_code=307)

    async def slow(request: Request) -> Response:
        await asyncio.sleep(1.5)
        return Response(status_code=204)

    app = Starlette(
        routes=[
            Route("/agent/commands", slow),
            Route("/agent/status", not_json),
            Route("/agent/results", redirect, methods=["POST"]),
        ]
    )
    monkeypatch.setattr(client_module, "_POLL_READ_MARGIN_SECONDS", 0.3)
    async with serve(app) as url, agent_client(url, double) as client:
        with pytest.raises(UnexpectedResponse, match="not JSON"):
            await client.status(inflight=0)
        with pytest.raises(UnexpectedResponse, match="307") as raised:
            await client.post_result("cmd_1", RESULT, inflight=0)
        assert raised.value.status_code == 307
        # The poll's read timeout is its wait plus the margin; past it the server is unavailable.
        with pytest.raises(ServerUnavailable, match="GET /agent/commands"):
            await client.poll(0, inflight=0)


async def test_a_poll_is_not_cut_by_the_ordinary_read_timeout(
    double: ProtocolDouble, server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The long-poll waits longer than requests do; result posts go on beside it."""
    monkeypatch.setattr(client_module, "_TIMEOUT", aiohttp.ClientTimeout(sock_read=0.5))
    async with agent_client(server_url, double) as client:
        poll = asyncio.create_task(client.poll(2, inflight=0))
        await asyncio.sleep(0.1)
        assert (await client.status(inflight=0))["queue_depth"] == 0
        await asyncio.sleep(0.6)
        command_id = double.enqueue(["get", "pods"])
        commands, _ = await poll
    assert [command.id for command in commands] == [command_id]


# --- the environment ----------------------------------------------------------------------------


def test_the_proxy_is_the_schemes_own_else_all_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:p%40ss@proxy.corp:3128")
    monkeypatch.setenv("ALL_PROXY", "other.corp:8080")
    proxy, credentials = environment_proxy(URL("https://pilothouse.example.com"))
    assert proxy == URL("http://proxy.corp:3128")
    assert credentials == f"Basic {base64.b64encode(b'user:p@ss').decode()}"
    proxy, credentials = environment_proxy(URL("http://pilothouse.example.com"))
    assert proxy == URL("http://other.corp:8080")
    assert credentials is None


def test_no_proxy_covers_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.svc.cluster.local")
    assert environment_proxy(URL("https://pilothouse.ns.svc.cluster.local")) == (None, None)
    assert environment_proxy(URL("https://pilothouse.example.com"))[0] == URL("http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "*")
    assert environment_proxy(URL("https://pilothouse.example.com")) == (None, None)


def test_a_proxy_aiohttp_cannot_use_is_refused_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://proxy.corp:1080")
    with pytest.raises(ValueError, match="only http"):
        AgentClient("https://pilothouse.example.com", cluster_id="c", token="t", executor_id="e")


async def fake_proxy(answer: bytes) -> tuple[asyncio.Server, list[bytes]]:
    """A proxy that records the head of each request it gets and answers ``answer``."""
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(answer)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(proxy, "127.0.0.1", 0), seen


async def test_requests_go_through_the_proxy_from_the_environment(
    double: ProtocolDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b'{"cluster_id": "via-proxy", "is_active": true, "queue_depth": 0}'
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )
    server, seen = await fake_proxy(answer)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://agent:s3cret@127.0.0.1:{port}")
    async with server, agent_client("http://pilothouse.invalid:8080", double) as client:
        assert (await client.status(inflight=0))["cluster_id"] == "via-proxy"
    request = seen[0].decode()
    assert request.startswith("GET http://pilothouse.invalid:8080/agent/status HTTP/1.1\r\n")
    credentials = base64.b64encode(b"agent:s3cret").decode()
    assert f"\r\nProxy-Authorization: Basic {credentials}\r\n" in request
    assert f"\r\nAuthorization: Bearer {double.token}\r\n" in request


async def test_the_token_is_not_shown_to_the_proxy_of_an_https_server(
    double: ProtocolDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through CONNECT the proxy sees only the tunnel's request: not the executor's headers."""
    server, seen = await fake_proxy(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTPS_PROXY", f"agent:s3cret@127.0.0.1:{port}")
    async with server, agent_client("https://pilothouse.invalid", double) as client:
        with pytest.raises(ServerUnavailable):
            await client.status(inflight=0)
    request = seen[0].decode()
    assert request.startswith("CONNECT pilothouse.invalid:443 HTTP/1.1\r\n")
    credentials = base64.b64encode(b"agent:s3cret").decode()
    assert f"\r\nProxy-Authorization: Basic {credentials}\r\n" in request
    assert double.token not in request
    assert double.cluster_id not in request


@contextlib.asynccontextmanager
async def tls_double(double: ProtocolDouble, directory: Path) -> AsyncIterator[tuple[str, Path]]:
    """The double over HTTPS with a certificate of a private CA; yields its URL and the CA file."""
    tls = generate_tls(directory, ["127.0.0.1"])
    ca_file = directory / "ca.crt"
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            double.app,
            host="127.0.0.1",
            port=port,
            ssl_certfile=str(tls.cert_path),
            ssl_keyfile=str(tls.key_path),
            log_config=None,
            access_log=False,
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield f"https://127.0.0.1:{port}", ca_file
    finally:
        server.should_exit = True
        await task


async def test_a_private_ca_is_trusted_through_ssl_cert_file(
    double: ProtocolDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with tls_double(double, tmp_path) as (url, ca_file):
        async with agent_client(url, double) as client:
            with pytest.raises(ServerUnavailable, match="certificate"):
                await client.status(inflight=0)
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        async with agent_client(url, double) as client:
            assert (await client.status(inflight=0))["cluster_id"] == double.cluster_id

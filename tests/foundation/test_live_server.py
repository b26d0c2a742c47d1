"""Against a real uvicorn on 127.0.0.1: ASGITransport buffers responses and has no
WebSockets, so streaming and handshakes through the middleware are checked here."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect


async def test_streaming_response_is_not_buffered(live_server: str) -> None:
    async with httpx.AsyncClient(base_url=live_server) as client:
        started = time.perf_counter()
        async with client.stream(
            "GET", "/_test/stream", params={"chunks": 3, "delay": 0.4}, headers={"X-Request-ID": "req-stream"}
        ) as response:
            assert response.headers["x-request-id"] == "req-stream"
            arrivals: list[tuple[float, bytes]] = []
            async for chunk in response.aiter_raw():
                arrivals.append((time.perf_counter() - started, chunk))
    body = b"".join(chunk for _, chunk in arrivals)
    assert body == b"chunk-0\nchunk-1\nchunk-2\n"
    # The generator sleeps 0.4 s after each chunk; a buffering middleware would deliver the
    # chunks together at the end. Compared with each other, not with a deadline, so that a
    # loaded machine (a late first chunk) cannot fail it.
    assert arrivals[0][1].startswith(b"chunk-0")
    assert len(arrivals) >= 2
    assert arrivals[-1][0] - arrivals[0][0] >= 0.6


async def test_websocket_handshake_passes_through_with_identity(live_server: str) -> None:
    url = live_server.replace("http://", "ws://") + "/_test/ws"
    async with connect(url, additional_headers={"X-Request-ID": "req-ws-1"}) as websocket:
        assert websocket.response is not None
        assert websocket.response.headers["x-request-id"] == "req-ws-1"
        assert websocket.response.headers["x-api-version"] == "1.0.0"
        await websocket.send("ping")
        reply = json.loads(await websocket.recv())
    assert reply == {"echo": "ping", "request_id": "req-ws-1"}

    async with httpx.AsyncClient(base_url=live_server) as client:
        metrics = (await client.get("/metrics")).text
    assert 'pilothouse_websocket_connections_total{route="/_test/ws"} 1.0' in metrics


async def test_errors_over_real_http(live_server: str) -> None:
    async with httpx.AsyncClient(base_url=live_server) as client:
        health = await client.get("/health")
        boom = await client.get("/_test/boom")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    assert boom.status_code == 500
    assert boom.json()["error"] == "internal_error"
    assert boom.headers["x-request-id"] == boom.json()["request_id"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_run_server_end_to_end(tmp_path: Path) -> None:
    """`run_server` from env settings: migrates, serves, logs JSON, stops cleanly on SIGTERM."""
    port = _free_port()
    env = {
        **os.environ,
        "PILOTHOUSE_HOST": "127.0.0.1",
        "PILOTHOUSE_PORT": str(port),
        "PILOTHOUSE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db' / 'pilothouse.db'}",
        "PILOTHOUSE_LOG_FORMAT": "json",
        "PILOTHOUSE_LOG_LEVEL": "INFO",
    }
    code = (
        "from pilothouse.app import run_server\n"
        "from pilothouse.settings import load_settings\n"
        "run_server(load_settings())\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = await client.get("/health")
                    break
                except httpx.TransportError:
                    if process.returncode is not None or time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)
            missing = await client.get("/missing")
        assert health.status_code == 200
        assert missing.status_code == 404
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    # uvicorn shuts down gracefully, then re-raises the signal it captured.
    assert process.returncode in (0, -signal.SIGTERM), output.decode()

    lines = [json.loads(line) for line in output.decode().splitlines() if line.strip()]
    events = [line["event"] for line in lines]
    assert "database_migrated" in events
    assert "server_ready" in events
    # The lifespan ran its shutdown (bus and database closed) before the process ended.
    assert events.index("server_stopping") < events.index("Application shutdown complete.")
    access = [line for line in lines if line["event"] == "http_request"]
    assert [(line["path"], line["status"]) for line in access] == [("/missing", 404)]
    # uvicorn's own records go through the same JSON formatter.
    assert any(line.get("logger", "").startswith("uvicorn") for line in lines)
    # The generated JWT secret is persisted beside the database.
    secret_file = tmp_path / "db" / "jwt_secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert len(secret_file.read_text().strip()) >= 32

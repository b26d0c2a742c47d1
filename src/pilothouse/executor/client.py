"""The executor's side of the HTTP protocol: requests, headers, and what status codes mean.

One ``aiohttp.ClientSession`` (HTTP/1.1, keep-alive) carries the long-poll and, on other pooled
connections, the result posts that happen while a poll is waiting. aiohttp rather than httpx
because every command costs two of these exchanges: in this pattern httpx spent ~1.5 ms of CPU
per request here, aiohttp ~0.3 ms (``bench/executor_roundtrip.py``).

The environment is still trusted, as httpx does: a proxy from ``HTTPS_PROXY``/``HTTP_PROXY``/
``ALL_PROXY`` (minus ``NO_PROXY``), and a private CA from ``SSL_CERT_FILE`` or ``SSL_CERT_DIR``.
Both are read once, here, not through aiohttp's ``trust_env``, which looks up the proxy and
``~/.netrc`` in a worker thread on every request (about 1.2 ms of CPU each).
"""

from __future__ import annotations

import os
import ssl
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any

import aiohttp
import certifi
import orjson
from yarl import URL

from pilothouse import __version__
from pilothouse.executor import protocol
from pilothouse.executor.protocol import Command, CommandResult, MalformedCommand, parse_commands

# The server may take the whole wait to answer a long-poll; allow for it and a slow network.
_POLL_READ_MARGIN_SECONDS = 15.0
_TIMEOUT_SECONDS = 10.0


def _timeouts(read_seconds: float) -> aiohttp.ClientTimeout:
    # ``connect`` covers waiting for a pooled connection too, as httpx's pool timeout did.
    return aiohttp.ClientTimeout(
        total=None, connect=_TIMEOUT_SECONDS, sock_connect=_TIMEOUT_SECONDS, sock_read=read_seconds
    )


_TIMEOUT = _timeouts(_TIMEOUT_SECONDS)
# Below the server's own keep-alive (uvicorn closes idle connections after 5 s), as httpx's
# default expiry was, so a result is rarely sent on a connection the server is closing.
_KEEPALIVE_SECONDS = 4.0
_JSON = {"Content-Type": "application/json"}


class AgentClientError(Exception):
    """A request did not get the answer the protocol promises."""


class Unauthorized(AgentClientError):
    """401: the token is wrong, revoked, or belongs to another cluster."""


class ServerUnavailable(AgentClientError):
    """No answer (connection refused, reset, timed out) or a 5xx: try again later."""


class UnexpectedResponse(AgentClientError):
    """An answer the protocol does not allow here, such as 400 or a body that is not JSON."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class UnknownCommand(AgentClientError):
    """404 on a result: the server no longer knows the command (expired, or never existed)."""


@dataclass(frozen=True)
class _Answer:
    """A whole response, read before the connection went back to the pool."""

    method: str
    path: str
    status_code: int
    body: bytes


class AgentClient:
    def __init__(
        self,
        server_url: str,
        *,
        cluster_id: str,
        token: str,
        executor_id: str,
        version: str = __version__,
    ) -> None:
        base = server_url.rstrip("/")
        # Parsed once: a string URL would be parsed again by yarl on every request.
        self._urls = {
            path: URL(base + path)
            for path in ("/agent/commands", "/agent/results", "/agent/status", "/agent/discovery")
        }
        self._headers = {
            protocol.AUTHORIZATION: f"Bearer {token}",
            protocol.CLUSTER_ID: cluster_id,
            protocol.EXECUTOR_ID: executor_id,
            protocol.EXECUTOR_VERSION: version,
        }
        server = URL(base)
        self._proxy, proxy_credentials = environment_proxy(server)
        self._proxy_headers: dict[str, str] | None = None
        if proxy_credentials is not None:
            if server.scheme == "https":  # on the CONNECT that opens the tunnel
                self._proxy_headers = {"Proxy-Authorization": proxy_credentials}
            else:  # on every request: the proxy is the next hop
                self._headers["Proxy-Authorization"] = proxy_credentials
        self._ssl = environment_ssl_context() if server.scheme == "https" else None
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running loop: aiohttp binds a session to its loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    ssl=self._ssl if self._ssl is not None else True,
                    keepalive_timeout=_KEEPALIVE_SECONDS,
                    # getaddrinfo, as httpx: resolv.conf search domains and /etc/hosts as the OS sees them.
                    resolver=aiohttp.ThreadedResolver(),
                ),
                # No default headers: aiohttp would copy them into the headers for the proxy and
                # turn the Authorization among them (the executor token) into Proxy-Authorization.
                timeout=_TIMEOUT,
                trust_env=False,  # read once in __init__ instead; see the module docstring
            )
        return self._session

    # Every method takes ``inflight``, the commands this executor holds right now: every request is
    # a heartbeat that reports it (X-Executor-Inflight).

    async def poll(self, wait: int, *, inflight: int) -> tuple[list[Command], list[MalformedCommand]]:
        """``GET /agent/commands?wait=N``: the commands leased to this executor (none on 204)."""
        timeouts = _timeouts(wait + _POLL_READ_MARGIN_SECONDS)
        url = self._urls["/agent/commands"].with_query(wait=wait)
        answer = await self._request("GET", "/agent/commands", inflight, url=url, timeouts=timeouts)
        if answer.status_code == HTTPStatus.NO_CONTENT:
            return [], []
        _expect(answer, HTTPStatus.OK)
        try:
            return parse_commands(_json(answer))
        except ValueError as error:
            raise UnexpectedResponse(f"GET /agent/commands: {error}", answer.status_code) from None

    async def post_result(self, command_id: str, result: CommandResult, *, inflight: int) -> None:
        answer = await self._request(
            "POST", "/agent/results", inflight, body=protocol.result_body(command_id, result)
        )
        if answer.status_code == HTTPStatus.NOT_FOUND:
            raise UnknownCommand(f"the server does not know command {command_id}")
        _expect(answer, HTTPStatus.OK)

    async def status(self, *, inflight: int) -> dict[str, Any]:
        """``GET /agent/status``; also a heartbeat while every slot is busy and nothing polls."""
        answer = await self._request("GET", "/agent/status", inflight)
        _expect(answer, HTTPStatus.OK)
        body = _json(answer)
        if not isinstance(body, dict):
            raise UnexpectedResponse("GET /agent/status: not a JSON object", answer.status_code)
        return body

    async def post_discovery(self, resources: Sequence[dict[str, Any]], *, inflight: int) -> bool:
        """``POST /agent/discovery``; False if the server does not offer it (404, 405)."""
        answer = await self._request(
            "POST", "/agent/discovery", inflight, body={"resources": list(resources)}
        )
        if answer.status_code in (HTTPStatus.NOT_FOUND, HTTPStatus.METHOD_NOT_ALLOWED):
            return False
        if answer.status_code in (HTTPStatus.ACCEPTED, HTTPStatus.NO_CONTENT):
            return True
        _expect(answer, HTTPStatus.OK)
        return True

    async def _request(
        self,
        method: str,
        path: str,
        inflight: int,
        *,
        url: URL | None = None,
        body: object = None,
        timeouts: aiohttp.ClientTimeout | None = None,
    ) -> _Answer:
        headers = {**self._headers, protocol.EXECUTOR_INFLIGHT: str(inflight)}
        data = None
        if body is not None:
            headers.update(_JSON)
            data = orjson.dumps(body)
        try:
            async with self._open().request(
                method,
                url or self._urls[path],
                headers=headers,
                data=data,
                timeout=timeouts if timeouts is not None else _TIMEOUT,
                proxy=self._proxy,
                proxy_headers=self._proxy_headers,
                allow_redirects=False,  # a redirect is an answer the protocol does not allow
            ) as response:
                answer = _Answer(method, path, response.status, await response.read())
        # aiohttp's timeouts are TimeoutErrors, its socket errors ClientOSErrors (OSErrors).
        except (aiohttp.ClientError, TimeoutError, OSError) as error:  # refused, reset, DNS, timeouts
            raise ServerUnavailable(f"{method} {path}: {type(error).__name__}: {error}") from None
        if answer.status_code == HTTPStatus.UNAUTHORIZED:
            raise Unauthorized(f"{method} {path}: 401 {_message(answer)}")
        if answer.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise ServerUnavailable(f"{method} {path}: {answer.status_code} {_message(answer)}")
        return answer

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> AgentClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def environment_proxy(server: URL) -> tuple[URL | None, str | None]:
    """The proxy the environment names for ``server``, as httpx would pick it (the scheme's own
    variable, else ``ALL_PROXY``; none when ``NO_PROXY`` covers the host), and the
    Proxy-Authorization value for the credentials in its URL."""
    proxies = urllib.request.getproxies()
    value = proxies.get(server.scheme) or proxies.get("all")
    if not value:
        return None, None
    if urllib.request.proxy_bypass(f"{server.host}:{server.port}"):
        return None, None
    proxy = URL(value if "://" in value else f"http://{value}")
    if proxy.scheme not in ("http", "https"):
        raise ValueError(f"proxy {proxy.with_user(None)}: only http:// and https:// proxies are supported")
    credentials = aiohttp.BasicAuth.from_url(proxy)
    return proxy.with_user(None), None if credentials is None else credentials.encode()


def environment_ssl_context() -> ssl.SSLContext:
    """The CAs httpx trusts: ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` when set, else certifi's bundle."""
    if cafile := os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=cafile)
    if capath := os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=capath)
    return ssl.create_default_context(cafile=certifi.where())


def _expect(answer: _Answer, status: int) -> None:
    if answer.status_code != status:
        raise UnexpectedResponse(
            f"{answer.method} {answer.path}: {answer.status_code} {_message(answer)}", answer.status_code
        )


def _json(answer: _Answer) -> object:
    try:
        return orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        raise UnexpectedResponse(f"{answer.path}: the body is not JSON", answer.status_code) from None


def _message(answer: _Answer) -> str:
    """The human part of the common error body, else the start of whatever came back."""
    try:
        body = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return answer.body.decode(errors="replace")[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or "")[:200]
    return str(body)[:200]

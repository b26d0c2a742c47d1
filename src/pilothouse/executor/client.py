"""The executor's side of the HTTP protocol: requests, headers, and what status codes mean.

One ``httpx.AsyncClient`` (HTTP/1.1, keep-alive) carries the long-poll and, on other pooled
connections, the result posts that happen while a poll is waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import httpx

from pilothouse import __version__
from pilothouse.executor import protocol
from pilothouse.executor.protocol import Command, CommandResult, MalformedCommand, parse_commands

# The server may take the whole wait to answer a long-poll; allow for it and a slow network.
_POLL_READ_MARGIN_SECONDS = 15.0
_TIMEOUT = httpx.Timeout(10.0)


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
        self._http = httpx.AsyncClient(
            base_url=server_url.rstrip("/"),
            headers={
                protocol.AUTHORIZATION: f"Bearer {token}",
                protocol.CLUSTER_ID: cluster_id,
                protocol.EXECUTOR_ID: executor_id,
                protocol.EXECUTOR_VERSION: version,
            },
            # trust_env stays on: behind an egress proxy HTTPS_PROXY is how the server is reached,
            # and SSL_CERT_FILE how a private CA is trusted.
            timeout=_TIMEOUT,
        )

    # Every method takes ``inflight``, the commands this executor holds right now: every request is
    # a heartbeat that reports it (X-Executor-Inflight).

    async def poll(self, wait: int, *, inflight: int) -> tuple[list[Command], list[MalformedCommand]]:
        """``GET /agent/commands?wait=N``: the commands leased to this executor (none on 204)."""
        timeout = httpx.Timeout(10.0, read=wait + _POLL_READ_MARGIN_SECONDS)
        response = await self._request(
            "GET", "/agent/commands", inflight, params={"wait": wait}, timeout=timeout
        )
        if response.status_code == httpx.codes.NO_CONTENT:
            return [], []
        self._expect(response, httpx.codes.OK)
        try:
            return parse_commands(self._json(response))
        except ValueError as error:
            raise UnexpectedResponse(f"GET /agent/commands: {error}", response.status_code) from None

    async def post_result(self, command_id: str, result: CommandResult, *, inflight: int) -> None:
        response = await self._request(
            "POST", "/agent/results", inflight, json=protocol.result_body(command_id, result)
        )
        if response.status_code == httpx.codes.NOT_FOUND:
            raise UnknownCommand(f"the server does not know command {command_id}")
        self._expect(response, httpx.codes.OK)

    async def status(self, *, inflight: int) -> dict[str, Any]:
        """``GET /agent/status``; also a heartbeat while every slot is busy and nothing polls."""
        response = await self._request("GET", "/agent/status", inflight)
        self._expect(response, httpx.codes.OK)
        body = self._json(response)
        if not isinstance(body, dict):
            raise UnexpectedResponse("GET /agent/status: not a JSON object", response.status_code)
        return body

    async def post_discovery(self, resources: Sequence[dict[str, Any]], *, inflight: int) -> bool:
        """``POST /agent/discovery``; False if the server does not offer it (404, 405)."""
        response = await self._request(
            "POST", "/agent/discovery", inflight, json={"resources": list(resources)}
        )
        if response.status_code in (httpx.codes.NOT_FOUND, httpx.codes.METHOD_NOT_ALLOWED):
            return False
        if response.status_code in (httpx.codes.ACCEPTED, httpx.codes.NO_CONTENT):
            return True
        self._expect(response, httpx.codes.OK)
        return True

    async def _request(self, method: str, path: str, inflight: int, **options: Any) -> httpx.Response:
        headers = {protocol.EXECUTOR_INFLIGHT: str(inflight)}
        try:
            response = await self._http.request(method, path, headers=headers, **options)
        except httpx.TransportError as error:  # refused, reset, DNS, timeouts
            raise ServerUnavailable(f"{method} {path}: {type(error).__name__}: {error}") from None
        if response.status_code == httpx.codes.UNAUTHORIZED:
            raise Unauthorized(f"{method} {path}: 401 {_message(response)}")
        if response.status_code >= httpx.codes.INTERNAL_SERVER_ERROR:
            raise ServerUnavailable(f"{method} {path}: {response.status_code} {_message(response)}")
        return response

    @staticmethod
    def _expect(response: httpx.Response, status: int) -> None:
        if response.status_code != status:
            request = response.request
            raise UnexpectedResponse(
                f"{request.method} {request.url.path}: {response.status_code} {_message(response)}",
                response.status_code,
            )

    @staticmethod
    def _json(response: httpx.Response) -> object:
        try:
            return response.json()
        except ValueError:
            raise UnexpectedResponse(
                f"{response.request.url.path}: the body is not JSON", response.status_code
            ) from None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AgentClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _message(response: httpx.Response) -> str:
    """The human part of the common error body, else the start of whatever came back."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or "")[:200]
    return str(body)[:200]

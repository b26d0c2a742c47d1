"""The process-wide command service, and what the command hot routes take with it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pilothouse.auth.service import AccessGuard
from pilothouse.commands.service import CommandService
from pilothouse.ratelimit.service import RateLimiter


# async although it awaits nothing: FastAPI runs plain def dependencies in a thread pool,
# which would cost a thread hop on every request.
async def get_command_service(request: Request) -> CommandService:
    service: CommandService = request.app.state.command_service
    return service


CommandServiceDep = Annotated[CommandService, Depends(get_command_service)]


def command_services(request: Request) -> tuple[AccessGuard, RateLimiter, CommandService]:
    """The services a route that runs a command needs, for the routes every command passes
    through: looked up on ``app.state`` rather than declared as dependencies, because FastAPI
    resolves every dependency on every request, which costs more than the lookup."""
    state = request.app.state
    return state.access_guard, state.rate_limiter, state.command_service

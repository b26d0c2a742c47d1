"""The process-wide command service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pilothouse.commands.service import CommandService


# async although it awaits nothing: FastAPI runs plain def dependencies in a thread pool,
# which would cost a thread hop on every request.
async def get_command_service(request: Request) -> CommandService:
    service: CommandService = request.app.state.command_service
    return service


CommandServiceDep = Annotated[CommandService, Depends(get_command_service)]

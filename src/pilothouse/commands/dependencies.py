"""The process-wide command service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pilothouse.commands.service import CommandService


def get_command_service(request: Request) -> CommandService:
    service: CommandService = request.app.state.command_service
    return service


CommandServiceDep = Annotated[CommandService, Depends(get_command_service)]

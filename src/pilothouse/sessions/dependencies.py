"""The process-wide session service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pilothouse.sessions.service import SessionService


# async although it awaits nothing: FastAPI runs plain def dependencies in a thread pool,
# which would cost a thread hop on every request.
async def get_session_service(request: Request) -> SessionService:
    service: SessionService = request.app.state.session_service
    return service


SessionServiceDep = Annotated[SessionService, Depends(get_session_service)]

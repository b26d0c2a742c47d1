"""The cluster's controllers, in the order they are registered."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pilothouse.sim.controllers.scheduler import Scheduler

if TYPE_CHECKING:
    from pilothouse.sim.cluster import ControllerFactory

DEFAULT_CONTROLLERS: list[ControllerFactory] = [Scheduler]

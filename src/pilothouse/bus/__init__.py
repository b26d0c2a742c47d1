"""Message bus: fan-out topics and durable leased work queues (see bus/base.py)."""

from __future__ import annotations

from pilothouse.bus.base import Bus, JsonObject, Message, Subscription
from pilothouse.bus.inproc import InProcessBus
from pilothouse.settings import Settings

__all__ = ["Bus", "InProcessBus", "JsonObject", "Message", "Subscription", "create_bus"]


def create_bus(settings: Settings) -> Bus:
    """Redis when ``redis_url`` is set (several processes), otherwise in-process."""
    if settings.redis_url:
        # Imported lazily: the single-process default should not pay for the redis client.
        from pilothouse.bus.redis import RedisBus

        return RedisBus.from_url(settings.redis_url, prefix=settings.redis_key_prefix)
    return InProcessBus()

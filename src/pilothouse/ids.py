"""Random identifiers for requests, commands and queue messages.

128 random bits as 32 hex digits, like ``uuid.uuid4().hex``, drawn from a generator seeded from
the operating system once rather than with a ``getrandom`` system call per id: several ids are
made for every command, and on virtual machines that call is the dearer part. These ids name
things, they guard nothing (every lookup also checks who asks), so they need to be unique, not
unpredictable. The generator is reseeded in a forked child, so parent and child never share a
sequence.
"""

from __future__ import annotations

import os
import random

_generator = random.Random()  # noqa: S311 - names, not secrets; seeded from os.urandom


def _reseed() -> None:
    _generator.seed()


os.register_at_fork(after_in_child=_reseed)


def random_hex() -> str:
    """32 hex digits (128 random bits)."""
    return f"{_generator.getrandbits(128):032x}"

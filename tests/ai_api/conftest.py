"""A server with the AI core over a simulated cluster carrying several faults (Direct, fullAccess)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tests.cluster_api.conftest import ClusterApiStack

FAULTS = ("oom-killed", "crashloop-missing-env", "image-tag-typo")


@pytest.fixture(scope="session")
def ai_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterApiStack]:
    live = ClusterApiStack(
        tmp_path_factory.mktemp("ai-api"), scenarios=FAULTS, settle_seconds=200.0, with_executor=False
    )
    try:
        live.start()
        yield live
    finally:
        with contextlib.suppress(Exception):
            live.stop()

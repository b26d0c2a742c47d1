"""`pilothouse investigate` and `pilothouse actions` against a live server."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from pilothouse.cli.main import app
from tests.cluster_api.conftest import ClusterApiStack


@pytest.fixture(scope="module")
def cli_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterApiStack]:
    """Its own cluster: the loop tests fix the shared one's faults."""
    live = ClusterApiStack(
        tmp_path_factory.mktemp("ai-cli"),
        scenarios=("image-tag-typo",),
        settle_seconds=120.0,
        with_executor=False,
    )
    try:
        live.start()
        yield live
    finally:
        with contextlib.suppress(Exception):
            live.stop()


def test_investigate_then_list_and_reject(cli_stack: ClusterApiStack) -> None:
    runner = CliRunner()
    env = {"PILOTHOUSE_URL": cli_stack.url, "PILOTHOUSE_API_KEY": cli_stack.admin_key}
    result = runner.invoke(app, ["investigate", "deployment/storefront", "-n", "storefront"], env=env)
    assert result.exit_code == 0, result.output
    assert "cause=image-not-found" in result.output
    assert "acme/storefront:2.41.0" in result.output
    action_id = re.search(r"(act-\d{8}-[0-9a-f]+)", result.output)
    assert action_id is not None

    listed = runner.invoke(app, ["actions", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert action_id[1] in listed.output

    rejected = runner.invoke(app, ["actions", "reject", action_id[1], "--reason", "later"], env=env)
    assert rejected.exit_code == 0, rejected.output
    assert "rejected" in rejected.output
    refused = runner.invoke(app, ["actions", "approve", action_id[1]], env=env)
    assert refused.exit_code == 1
    assert "409" in refused.output

    missing = runner.invoke(app, ["investigate", "pod/none", "-n", "default"], env=env)
    assert missing.exit_code == 1
    assert "invalid_investigation_request" in missing.output

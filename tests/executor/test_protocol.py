"""Reading commands leniently where the contract allows it and strictly where safety needs it."""

from __future__ import annotations

import pytest

from pilothouse.executor.protocol import (
    KIND_KUBECTL,
    CommandResult,
    MalformedCommand,
    parse_commands,
    result_body,
)


def test_a_kubently_command_without_kind_is_kubectl_with_the_default_timeout() -> None:
    commands, malformed = parse_commands(
        {"commands": [{"id": "cmd-abc-123", "args": ["get", "pods", "-A"], "session_id": "sess-xyz"}]}
    )
    assert malformed == []
    (command,) = commands
    assert command.kind == KIND_KUBECTL
    assert command.args == ("get", "pods", "-A")
    assert command.timeout == 10.0
    assert command.session_id == "sess-xyz"
    assert command.lease_seconds is None


def test_the_full_command_shape_and_unknown_fields() -> None:
    commands, _ = parse_commands(
        {
            "commands": [
                {
                    "id": "cmd_1",
                    "kind": "ping",
                    "args": [],
                    "timeout": 2.5,
                    "correlation_id": "trace-1",
                    "lease_seconds": 25,
                    "added_later": {"by": "a newer server"},
                }
            ]
        }
    )
    assert commands[0].kind == "ping"
    assert commands[0].timeout == 2.5
    assert commands[0].correlation_id == "trace-1"
    assert commands[0].lease_seconds == 25


def test_args_given_as_a_string_are_malformed_not_split() -> None:
    commands, malformed = parse_commands({"commands": [{"id": "cmd_1", "args": "get pods --token=s3cr3t"}]})
    assert commands == []
    assert malformed[0].command_id == "cmd_1"
    assert "args" in malformed[0].problem
    assert "s3cr3t" not in malformed[0].problem  # values are never echoed


@pytest.mark.parametrize(
    ("item", "expected_id"),
    [
        ({"id": "cmd_2", "args": ["get", 5]}, "cmd_2"),
        ({"id": "cmd_3", "timeout": 0}, "cmd_3"),
        ({"id": "cmd_4", "timeout": 10_000}, "cmd_4"),
        ({"args": ["get", "pods"]}, None),
        ({"id": 7}, None),
        ("get pods", None),
    ],
)
def test_malformed_items_keep_their_id_when_they_have_one(item: object, expected_id: str | None) -> None:
    commands, malformed = parse_commands({"commands": [item, {"id": "ok", "args": ["get", "pods"]}]})
    assert [command.id for command in commands] == ["ok"]
    assert len(malformed) == 1
    assert isinstance(malformed[0], MalformedCommand)
    assert malformed[0].command_id == expected_id


@pytest.mark.parametrize("body", [None, [], {"commands": None}, {"command": []}, "x"])
def test_an_answer_without_a_commands_list_is_an_error(body: object) -> None:
    with pytest.raises(ValueError, match="commands"):
        parse_commands(body)


def test_result_body_matches_the_protocol() -> None:
    body = result_body(
        "cmd_1", CommandResult(success=True, output="x", error=None, exit_code=0, execution_time_ms=12)
    )
    assert body == {
        "command_id": "cmd_1",
        "result": {
            "success": True,
            "output": "x",
            "error": None,
            "exit_code": 0,
            "execution_time_ms": 12,
            "timed_out": False,
        },
    }
    assert CommandResult.failure("no").model_dump() == {
        "success": False,
        "output": "",
        "error": "no",
        "exit_code": None,
        "execution_time_ms": 0,
        "timed_out": False,
    }

"""Log patterns, cron schedules, quantities and the ranking order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pilothouse.ai import logpatterns
from pilothouse.ai.analyzers.jobs import cron_problem
from pilothouse.ai.findings import Cause, Finding, ResourceRef
from pilothouse.ai.objects import format_memory, quantity, split_image
from pilothouse.ai.ranking import correlate, sort_key


@pytest.mark.parametrize(
    ("line", "variable"),
    [
        ("Error: required environment variable DATABASE_URL is not set", "DATABASE_URL"),
        ("FATAL env var REDIS_HOST is missing", "REDIS_HOST"),
        ("missing required environment variable: API_KEY", "API_KEY"),
        ("panic: STRIPE_KEY must be set", "STRIPE_KEY"),
        ("KeyError: 'SECRET_KEY'", "SECRET_KEY"),
        ('the environment variable "PORT" is not set', "PORT"),
    ],
)
def test_missing_env_names_the_variable(line: str, variable: str) -> None:
    match = logpatterns.missing_env(["starting", line])
    assert match is not None and match.detail["variable"] == variable and match.index == 1


@pytest.mark.parametrize(
    "line",
    ["INFO environment loaded", "database url is not set yet, retrying", "KeyError: 'name'", "0 errors"],
)
def test_missing_env_does_not_guess(line: str) -> None:
    assert logpatterns.missing_env([line]) is None


def test_rbac_denial_is_parsed() -> None:
    line = (
        'E0603 reflector.go:147] secrets is forbidden: User "system:serviceaccount:platform:syncer"'
        " cannot watch "
        'resource "secrets" in API group "" in the namespace "platform"'
    )
    (match,) = logpatterns.rbac_denials([line, line])
    assert match.detail == {
        "sa_namespace": "platform",
        "sa": "syncer",
        "verb": "watch",
        "resource": "secrets",
        "group": "",
        "namespace": "platform",
    }
    cluster = (
        'User "system:serviceaccount:kube-system:x" cannot list resource "nodes" in API group "" at the'
        " cluster scope"
    )
    assert logpatterns.rbac_denials([cluster])[0].detail["namespace"] == ""


def test_unreachable_names_hosts_and_error() -> None:
    (match,) = logpatterns.unreachable(
        ["ok", "error: cannot reach cache:6379: dial tcp 10.96.0.4:6379: i/o timeout"]
    )
    assert match.detail == {"hosts": "cache:6379 10.96.0.4:6379", "error": "i/o timeout"}
    assert (
        logpatterns.unreachable(
            ['connection to server at "10.96.0.3", port 5432 failed: password authentication failed']
        )
        == []
    )


def test_most_informative_error_skips_traceback_headers() -> None:
    lines = ["Traceback (most recent call last):", '  File "x.py", line 1', "ValueError: bad input", ""]
    match = logpatterns.most_informative_error(lines)
    assert match is not None and match.line == "ValueError: bad input"
    assert logpatterns.most_informative_error(["all good"]) is None


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ("30 2 * * *", None),
        ("*/5 * * * MON-FRI", None),
        ("@daily", None),
        ("CRON_TZ=UTC 0 * * * *", None),
        ("0 0 ? * 1", None),
        ("61 * * * *", "out of range"),
        ("* * *", "expected 5 fields"),
        ("@sometimes", "unknown macro"),
        ("*/0 * * * *", "zero step"),
        ("0 0 * FOO *", "out of range"),
        ("? * * * *", "not allowed"),
    ],
)
def test_cron_schedules(schedule: str, problem: str | None) -> None:
    found = cron_problem(schedule)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_memory_formatting_rounds_up_to_mi() -> None:
    value = quantity("500M")
    assert value is not None
    assert format_memory(value) == "477Mi"
    assert format_memory(value * 2) == "954Mi"
    assert format_memory(Decimal(1024**3) + 1) == "1025Mi"


def test_split_image() -> None:
    assert split_image("registry:5000/team/app:1.2@sha256:ab") == (
        "registry:5000/team/app",
        "1.2",
        "sha256:ab",
    )
    assert split_image("nginx") == ("nginx", None, None)


def finding(cause: Cause, role: str, severity: str, distance: int, **extra: object) -> Finding:
    return Finding(
        id=f"fnd-{cause.value}",
        analyzer="t",
        resource=ResourceRef(kind="Deployment", namespace="x", name=cause.value),
        severity=severity,
        category="health",
        cause=cause,
        role=role,
        summary=cause.value,
        distance=distance,
        **extra,
    )


def test_a_cause_outranks_a_nearer_more_severe_symptom() -> None:
    ranked = sorted(
        [
            finding(Cause.WORKLOAD_UNAVAILABLE, "symptom", "critical", 0),
            finding(Cause.PRIVILEGED_CONTAINER, "risk", "high", 0),
            finding(Cause.SERVICE_SELECTOR_MISMATCH, "cause", "high", 1),
            finding(Cause.CRASH_LOOP, "cause", "high", 2),
        ],
        key=sort_key,
    )
    assert [f.cause for f in ranked] == [
        Cause.SERVICE_SELECTOR_MISMATCH,
        Cause.CRASH_LOOP,
        Cause.WORKLOAD_UNAVAILABLE,
        Cause.PRIVILEGED_CONTAINER,
    ]


def test_correlate_lends_a_symptoms_log_to_its_cause() -> None:
    from pilothouse.ai.findings import Evidence

    service = ResourceRef(kind="Service", namespace="x", name="api")
    log = Evidence(
        id="ev-1",
        kind="log",
        resource=ResourceRef(kind="Pod", namespace="x", name="web-1"),
        quote="refused",
        line="refused",
    )
    cause = Finding(
        id="c",
        analyzer="t",
        resource=service,
        severity="high",
        category="health",
        cause=Cause.SERVICE_TARGETPORT_MISMATCH,
        role="cause",
        summary="s",
    )
    symptom = Finding(
        id="s",
        analyzer="t",
        resource=ResourceRef(kind="Deployment", namespace="x", name="web"),
        severity="medium",
        category="health",
        cause=Cause.DEPENDENCY_UNREACHABLE,
        role="symptom",
        summary="s",
        evidence=[log],
        depends_on=[service],
    )
    updated, _ = correlate([cause, symptom])
    assert [e.id for e in updated.evidence] == ["ev-1"]
    assert updated.related == [symptom.resource]

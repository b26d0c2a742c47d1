"""Remediation hints: concrete current -> proposed changes, computed from evidence, or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilothouse.ai import ResourceRef, investigate
from pilothouse.ai.findings import Cause, Finding
from pilothouse.ai.snapshot import ClusterSnapshot
from tests.ai import factory as f
from tests.ai.test_scenarios import served


def only(findings: list[Finding], cause: Cause) -> Finding:
    found = [x for x in findings if x.cause == cause]
    assert len(found) == 1, [(x.cause.value, x.summary) for x in findings]
    return found[0]


def oom_snapshot(limit: str) -> ClusterSnapshot:
    c = f.container("redis", resources={"requests": {"memory": "64Mi"}, "limits": {"memory": limit}})
    dep = f.deployment("cache", containers=[f.container("sidecar"), c])
    p = f.pod(
        "cache-1",
        parent=dep,
        statuses=[f.running("sidecar"), f.waiting("redis", restarts=3, last=f.terminated("OOMKilled", 137))],
    )
    return f.snapshot(dep, p)


@pytest.mark.parametrize(
    ("limit", "proposed"),
    [
        ("512Mi", "1Gi"),
        ("256Mi", "512Mi"),
        ("300Mi", "600Mi"),
        ("1.5Gi", "3Gi"),
        ("500M", "954Mi"),
        ("1G", "1908Mi"),
    ],
)
async def test_oom_doubles_the_memory_limit_rounded_to_mi(limit: str, proposed: str) -> None:
    finding = only(await f.analyze(oom_snapshot(limit), "pods"), Cause.OOM_KILLED)
    fix = finding.remediation
    assert fix is not None
    assert fix.operation == "set_resources"
    assert fix.target.kind == "Deployment" and fix.target.name == "cache"
    assert fix.params == {"container": "redis", "resources": {"limits": {"memory": proposed}}}
    (change,) = fix.changes
    assert change.path == "spec.template.spec.containers[1].resources.limits.memory"
    assert (change.current, change.proposed) == (limit, proposed)
    assert set(fix.evidence_ids) <= {e.id for e in finding.evidence}


async def test_oom_without_a_limit_proposes_no_number() -> None:
    c = f.container("redis", resources={"requests": {"memory": "64Mi"}})
    dep = f.deployment("cache", containers=[c])
    p = f.pod(
        "cache-1", parent=dep, statuses=[f.waiting("redis", restarts=3, last=f.terminated("OOMKilled", 137))]
    )
    finding = only(await f.analyze(f.snapshot(dep, p), "pods"), Cause.OOM_KILLED)
    assert finding.remediation is None
    assert finding.recommendations


async def test_a_bare_pod_gets_no_template_change() -> None:
    c = f.container("redis", resources={"limits": {"memory": "128Mi"}})
    p = f.pod(
        "solo", containers=[c], statuses=[f.waiting("redis", restarts=3, last=f.terminated("OOMKilled", 137))]
    )
    finding = only(await f.analyze(f.snapshot(p), "pods"), Cause.OOM_KILLED)
    assert finding.remediation is None  # a pod's resources cannot be edited in place


def image_snapshot(*extra: f.Json, labels: dict[str, str] | None = None) -> ClusterSnapshot:
    dep = f.deployment(
        "exporter", containers=[f.container("exporter", "quay.io/prometheus/node-exporter:v1.8.20")]
    )
    if labels:
        dep["metadata"]["labels"].update(labels)
    message = (
        "rpc error: code = NotFound desc = failed to resolve reference"
        ' "quay.io/prometheus/node-exporter:v1.8.20": not found'
    )
    p = f.pod(
        "exporter-1",
        parent=dep,
        phase="Pending",
        ready=False,
        statuses=[
            f.waiting(
                "exporter", "ImagePullBackOff", message, image="quay.io/prometheus/node-exporter:v1.8.20"
            )
        ],
    )
    return f.snapshot(
        dep,
        p,
        f.event(p, "Failed", f'Failed to pull image "quay.io/prometheus/node-exporter:v1.8.20": {message}'),
        *extra,
    )


async def test_image_not_found_proposes_a_tag_the_cluster_already_pulled() -> None:
    elsewhere = f.pod(
        "old-exporter",
        namespace="legacy",
        statuses=[f.running("exporter", image="quay.io/prometheus/node-exporter:v1.8.2")],
        containers=[f.container("exporter", "quay.io/prometheus/node-exporter:v1.8.2")],
    )
    unrelated = f.pod(
        "other",
        namespace="legacy",
        statuses=[f.running("app", image="quay.io/prometheus/node-exporter:v0.18.1")],
    )
    finding = only(await f.analyze(image_snapshot(elsewhere, unrelated), "pods"), Cause.IMAGE_NOT_FOUND)
    fix = finding.remediation
    assert fix is not None and fix.operation == "set_image"
    assert fix.params == {"container": "exporter", "image": "quay.io/prometheus/node-exporter:v1.8.2"}
    assert fix.risk == "low"  # proven: another container pulled it
    assert fix.changes[0].current == "quay.io/prometheus/node-exporter:v1.8.20"
    assert any("imageID" in (e.path or "") for e in finding.evidence)


async def test_image_not_found_without_evidence_proposes_nothing() -> None:
    finding = only(await f.analyze(image_snapshot(), "pods"), Cause.IMAGE_NOT_FOUND)
    assert finding.remediation is None


async def test_image_not_found_ignores_a_version_label_that_is_not_a_typo() -> None:
    finding = only(
        await f.analyze(image_snapshot(labels={"app.kubernetes.io/version": "3.0.0"}), "pods"),
        Cause.IMAGE_NOT_FOUND,
    )
    assert finding.remediation is None


def crash_snapshot(*, previous_revision: bool) -> ClusterSnapshot:
    dep = f.deployment("api", containers=[f.container("api", "acme/api:2.0")])
    dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "2"
    new = f.replicaset(dep, revision=2)
    objects = [dep, new]
    if previous_revision:
        objects.append(f.replicaset(dep, revision=1, containers=[f.container("api", "acme/api:1.9")]))
    p = f.pod(
        "api-2abc-x",
        parent=new,
        statuses=[f.waiting("api", restarts=5, last=f.terminated("Error", 1))],
        ready=False,
    )
    logs = {
        ("default", "api-2abc-x", "api", True): [
            "panic: runtime error: invalid memory address or nil pointer dereference"
        ]
    }
    return f.snapshot(*objects, p, logs=logs)


async def test_crash_loop_rolls_back_when_a_previous_revision_exists() -> None:
    finding = only(await f.analyze(crash_snapshot(previous_revision=True), "pods"), Cause.CRASH_LOOP)
    assert "panic: runtime error" in finding.summary
    fix = finding.remediation
    assert fix is not None and fix.operation == "rollback"
    assert fix.params["revision"] == 1
    assert [(c.current, c.proposed) for c in fix.changes] == [("acme/api:2.0", "acme/api:1.9")]


async def test_crash_loop_restarts_when_there_is_no_earlier_revision() -> None:
    finding = only(await f.analyze(crash_snapshot(previous_revision=False), "pods"), Cause.CRASH_LOOP)
    fix = finding.remediation
    assert fix is not None and fix.operation == "rollout_restart"
    assert fix.target.kind == "Deployment" and fix.target.name == "api"


async def test_sim_oom_proposes_a_memory_increase(tmp_path: Path) -> None:
    async with served(tmp_path, "oom-killed") as (ops, resolver, _):
        diagnosis = await investigate(
            ops, resolver, ResourceRef(kind="Deployment", namespace="search", name="indexer")
        )
        (first, *_) = diagnosis.remediations
        assert first.operation == "set_resources"
        assert first.params == {"container": "indexer", "resources": {"limits": {"memory": "1Gi"}}}
        assert (first.changes[0].current, first.changes[0].proposed) == ("512Mi", "1Gi")


async def test_sim_image_typo_proposes_the_released_tag(tmp_path: Path) -> None:
    async with served(tmp_path, "image-tag-typo") as (ops, resolver, _):
        diagnosis = await investigate(
            ops, resolver, ResourceRef(kind="Deployment", namespace="storefront", name="storefront")
        )
        (first, *_) = diagnosis.remediations
        assert first.operation == "set_image"
        assert first.params == {"container": "storefront", "image": "acme/storefront:2.41.0"}
        assert first.risk == "medium"  # from the release label: not proven against the registry


async def test_sim_image_typo_without_evidence_proposes_no_image(tmp_path: Path) -> None:
    async with served(tmp_path, "bad-day") as (ops, resolver, _):
        diagnosis = await investigate(
            ops, resolver, ResourceRef(kind="DaemonSet", namespace="monitoring", name="node-exporter")
        )
        assert diagnosis.root_cause is not None and diagnosis.root_cause.cause == Cause.IMAGE_NOT_FOUND
        assert not [r for r in diagnosis.remediations if r.operation == "set_image"]


@pytest.mark.parametrize(
    ("scenario", "ref", "operation", "patch"),
    [
        (
            "service-targetport-mismatch",
            ResourceRef(kind="Service", namespace="shop", name="api"),
            "patch",
            [{"op": "replace", "path": "/spec/ports/0/targetPort", "value": 8080}],
        ),
        (
            "networkpolicy-blocks-dependency",
            ResourceRef(kind="NetworkPolicy", namespace="shop", name="cache-ingress"),
            "patch",
            [
                {
                    "op": "add",
                    "path": "/spec/ingress/0/from/-",
                    "value": {"podSelector": {"matchLabels": {"app": "api"}}},
                }
            ],
        ),
        (
            "rbac-forbidden",
            ResourceRef(kind="Role", namespace="platform", name="config-syncer"),
            "patch",
            [
                {
                    "op": "add",
                    "path": "/rules/-",
                    "value": {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]},
                }
            ],
        ),
        (
            "service-selector-mismatch",
            ResourceRef(kind="Service", namespace="blog", name="mysql"),
            "patch",
            [{"op": "replace", "path": "/spec/selector/app", "value": "mysql"}],
        ),
        (
            "liveness-probe-wrong-port",
            ResourceRef(kind="Deployment", namespace="inventory", name="inventory"),
            "patch",
            [
                {
                    "op": "replace",
                    "path": "/spec/template/spec/containers/0/livenessProbe/httpGet/port",
                    "value": 8080,
                }
            ],
        ),
    ],
)
async def test_sim_fixes_match_what_a_person_would_apply(
    tmp_path: Path, scenario: str, ref: ResourceRef, operation: str, patch: list[f.Json]
) -> None:
    # The same changes tests/sim/scenarios applies by hand to heal these scenarios.
    async with served(tmp_path, scenario) as (ops, resolver, _):
        diagnosis = await investigate(ops, resolver, ref)
        (first, *_) = diagnosis.remediations
        assert first.operation == operation
        assert first.params["patch_type"] == "json"
        assert first.params["patch"] == patch

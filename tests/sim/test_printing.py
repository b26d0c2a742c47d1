"""Server-side Table printing must match what a real kube-apiserver sends to `kubectl get`.

Expected cells follow k8s.io/kubernetes/pkg/printers/internalversion/printers.go. All objects
are shaped as the API returns them; the clock is fixed at NOW.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pilothouse.sim.printing import (
    build_table,
    evaluate_jsonpath,
    format_quantity,
    human_duration,
    parse_jsonpath,
    parse_timestamp,
    short_human_duration,
)

JSON = dict[str, Any]
NOW_TEXT = "2026-11-22T15:00:00Z"
NOW = 1795359600.0
THREE_HOURS_AGO = "2026-11-22T12:00:00Z"
FIFTY_TWO_DAYS_AGO = "2026-10-01T00:00:00Z"  # 52d15h before NOW


def meta(name: str, namespace: str | None = "default", created: str = THREE_HOURS_AGO, **extra: Any) -> JSON:
    """Object metadata as the API server fills it in."""
    metadata: JSON = {
        "name": name,
        "uid": f"0b6f4c2e-{abs(hash(name)) % 10**4:04d}-4c51-9a37-5f0d2c7e8a91",
        "resourceVersion": "48213",
        "creationTimestamp": created,
    }
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata.update(extra)
    return metadata


def copy_with(obj: JSON, **sections: JSON) -> JSON:
    """A deep copy of obj with keys added to some of its top-level sections."""
    merged = copy.deepcopy(obj)
    for section, values in sections.items():
        merged[section] = {**merged.get(section, {}), **values}
    return merged


def row_cells(group: str, kind: str, obj: JSON, **options: Any) -> list[Any]:
    table = build_table(group, kind, [obj], now=NOW, **options)
    return list(table["rows"][0]["cells"])


def column_names(group: str, kind: str, **options: Any) -> list[tuple[str, int]]:
    table = build_table(group, kind, [], now=NOW, **options)
    return [(column["name"], column["priority"]) for column in table["columnDefinitions"]]


def test_now_constant_matches_its_text() -> None:
    assert parse_timestamp(NOW_TEXT) == NOW


# ---------------------------------------------------------------------------------------------
# Durations
# ---------------------------------------------------------------------------------------------

MINUTE, HOUR, DAY, YEAR = 60, 3600, 86400, 365 * 86400


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-2, "<invalid>"),
        (-1.5, "0s"),  # Go truncates toward zero: up to 2s in the future is "now"
        (-1, "0s"),
        (0, "0s"),
        (0.9, "0s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (121, "2m1s"),
        (330, "5m30s"),
        (599, "9m59s"),
        (600, "10m"),
        (601, "10m"),
        (3 * HOUR - 1, "179m"),
        (3 * HOUR, "3h"),
        (3 * HOUR + 5 * MINUTE, "3h5m"),
        (8 * HOUR - 1, "7h59m"),
        (8 * HOUR, "8h"),
        (48 * HOUR - 1, "47h"),
        (48 * HOUR, "2d"),
        (2 * DAY + 3 * HOUR, "2d3h"),
        (8 * DAY - 1, "7d23h"),
        (8 * DAY, "8d"),
        (2 * YEAR - 1, "729d"),
        (2 * YEAR, "2y"),
        (2 * YEAR + 3 * DAY, "2y3d"),
        (8 * YEAR - 1, "7y364d"),
        (8 * YEAR + 10 * DAY, "8y"),
    ],
)
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-2, "<invalid>"),
        (-1, "0s"),
        (59, "59s"),
        (60, "1m"),
        (HOUR - 1, "59m"),
        (HOUR, "1h"),
        (DAY - 1, "23h"),
        (DAY, "1d"),
        (YEAR - 1, "364d"),
        (YEAR, "1y"),
        (3 * YEAR + 100 * DAY, "3y"),
    ],
)
def test_short_human_duration(seconds: float, expected: str) -> None:
    assert short_human_duration(seconds) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T15:00:00Z", NOW),
        ("2026-11-22T16:30:00+01:30", NOW),
        ("2026-11-22T14:59:10.123456Z", NOW - 49.876544),
        ("2026-11-22 15:00:00", None),
        ("yesterday", None),
    ],
)
def test_parse_timestamp(text: str, expected: float | None) -> None:
    parsed = parse_timestamp(text)
    assert parsed == pytest.approx(expected) if expected is not None else parsed is None


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("10Gi", "10Gi"),
        ("1024Mi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("1.5Gi", "1536Mi"),
        ("512", "512"),
        ("0.5", "500m"),
        ("1000m", "1"),
        ("1500m", "1500m"),
        ("2000", "2k"),
        ("10G", "10G"),
        ("1e3", "1e3"),
        ("0.1n", "1n"),
        (2, "2"),
        (None, "0"),
        ("lots", "lots"),
    ],
)
def test_format_quantity(quantity: Any, expected: str) -> None:
    assert format_quantity(quantity) == expected


# ---------------------------------------------------------------------------------------------
# Pods
# ---------------------------------------------------------------------------------------------


def running_state(started: str = THREE_HOURS_AGO) -> JSON:
    return {"running": {"startedAt": started}}


def terminated_state(exit_code: int, reason: str | None = None, signal: int | None = None) -> JSON:
    state: JSON = {
        "exitCode": exit_code,
        "startedAt": "2026-11-22T14:40:00Z",
        "finishedAt": "2026-11-22T14:41:00Z",
        "containerID": "containerd://4f1d2c",
    }
    if reason is not None:
        state["reason"] = reason
    if signal is not None:
        state["signal"] = signal
    return {"terminated": state}


def waiting_state(reason: str, message: str = "") -> JSON:
    return {"waiting": {"reason": reason, "message": message}} if message else {"waiting": {"reason": reason}}


def container_status(
    name: str,
    state: JSON,
    *,
    ready: bool = False,
    restarts: int = 0,
    last_finished: str | None = None,
    started: bool | None = None,
) -> JSON:
    status: JSON = {
        "name": name,
        "state": state,
        "lastState": {},
        "ready": ready,
        "restartCount": restarts,
        "image": f"registry.example.com/{name}:1.4.2",
        "imageID": f"registry.example.com/{name}@sha256:9b2f6c0e",
        "started": "running" in state if started is None else started,
    }
    if "running" in state or "terminated" in state:
        status["containerID"] = "containerd://8a7c0b1e"
    if last_finished is not None:
        status["lastState"] = {
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "startedAt": "2026-11-22T14:00:00Z",
                "finishedAt": last_finished,
                "containerID": "containerd://77e0a3f2",
            }
        }
    return status


def condition(kind: str, status: str, reason: str | None = None) -> JSON:
    cond: JSON = {
        "type": kind,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": THREE_HOURS_AGO,
    }
    if reason is not None:
        cond["reason"] = reason
    return cond


RUNNING_CONDITIONS = [
    condition("PodReadyToStartContainers", "True"),
    condition("Initialized", "True"),
    condition("Ready", "True"),
    condition("ContainersReady", "True"),
    condition("PodScheduled", "True"),
]
NOT_READY_CONDITIONS = [
    condition("PodReadyToStartContainers", "True"),
    condition("Initialized", "True"),
    condition("Ready", "False", "ContainersNotReady"),
    condition("ContainersReady", "False", "ContainersNotReady"),
    condition("PodScheduled", "True"),
]
INITIALIZING_CONDITIONS = [
    condition("Initialized", "False", "ContainersNotInitialized"),
    condition("Ready", "False", "ContainersNotReady"),
    condition("ContainersReady", "False", "ContainersNotReady"),
    condition("PodScheduled", "True"),
]


def container_spec(name: str, restart_policy: str | None = None) -> JSON:
    spec: JSON = {
        "name": name,
        "image": f"registry.example.com/{name}:1.4.2",
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }
    if restart_policy is not None:
        spec["restartPolicy"] = restart_policy
    return spec


def pod(
    *,
    containers: list[str] | None = None,
    statuses: list[JSON] | None = None,
    init_containers: list[JSON] | None = None,
    init_statuses: list[JSON] | None = None,
    phase: str = "Running",
    conditions: list[JSON] | None = None,
    reason: str | None = None,
    deleted: bool = False,
    scheduled: bool = True,
) -> JSON:
    metadata = meta(
        "web-7d9c8b5f4-x2x9z",
        labels={"app": "web", "pod-template-hash": "7d9c8b5f4"},
        generateName="web-7d9c8b5f4-",
        ownerReferences=[
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web-7d9c8b5f4",
                "uid": "5a1e9c44-1d2b-4f7e-8a61-0c3b9e2d7f10",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    )
    if deleted:
        metadata["deletionTimestamp"] = "2026-11-22T14:59:30Z"
        metadata["deletionGracePeriodSeconds"] = 30
    names = containers if containers is not None else ["web"]
    spec: JSON = {
        "containers": [container_spec(name) for name in names],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default",
        "schedulerName": "default-scheduler",
        "priority": 0,
    }
    status: JSON = {
        "phase": phase,
        "conditions": conditions if conditions is not None else RUNNING_CONDITIONS,
        "qosClass": "BestEffort",
    }
    if scheduled:
        spec["nodeName"] = "worker-1"
        status.update(
            hostIP="172.18.0.3",
            hostIPs=[{"ip": "172.18.0.3"}],
            podIP="10.244.1.5",
            podIPs=[{"ip": "10.244.1.5"}],
            startTime=THREE_HOURS_AGO,
        )
    if statuses is not None:
        status["containerStatuses"] = statuses
    if init_containers is not None:
        spec["initContainers"] = init_containers
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    if reason is not None:
        status["reason"] = reason
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}


RUNNING = container_status("web", running_state(), ready=True)
MIGRATE_INIT = [container_spec("migrate"), container_spec("warm-cache")]

POD_CASES: list[tuple[str, JSON, tuple[str, str, str]]] = [
    ("running", pod(statuses=[RUNNING]), ("1/1", "Running", "0")),
    (
        "one of two ready",
        pod(
            containers=["web", "log-shipper"],
            statuses=[RUNNING, container_status("log-shipper", running_state(), ready=False)],
            conditions=NOT_READY_CONDITIONS,
        ),
        ("1/2", "Running", "0"),
    ),
    (
        "pending, not yet scheduled",
        pod(
            phase="Pending", conditions=[condition("PodScheduled", "False", "Unschedulable")], scheduled=False
        ),
        ("0/1", "Pending", "0"),
    ),
    (
        "scheduling gated",
        pod(
            phase="Pending",
            conditions=[condition("PodScheduled", "False", "SchedulingGated")],
            scheduled=False,
        ),
        ("0/1", "SchedulingGated", "0"),
    ),
    (
        "container creating",
        pod(phase="Pending", statuses=[container_status("web", waiting_state("ContainerCreating"))]),
        ("0/1", "ContainerCreating", "0"),
    ),
    (
        "crash loop back-off with restarts",
        pod(
            statuses=[
                container_status(
                    "web",
                    waiting_state("CrashLoopBackOff", "back-off 2m40s restarting failed container=web"),
                    restarts=5,
                    last_finished="2026-11-22T14:58:00Z",
                )
            ],
            conditions=NOT_READY_CONDITIONS,
        ),
        ("0/1", "CrashLoopBackOff", "5 (2m ago)"),
    ),
    (
        "image pull back-off",
        pod(
            phase="Pending",
            statuses=[
                container_status("web", waiting_state("ImagePullBackOff", 'Back-off pulling image "x"'))
            ],
            conditions=NOT_READY_CONDITIONS,
        ),
        ("0/1", "ImagePullBackOff", "0"),
    ),
    (
        "image pull error",
        pod(phase="Pending", statuses=[container_status("web", waiting_state("ErrImagePull"))]),
        ("0/1", "ErrImagePull", "0"),
    ),
    (
        "config error",
        pod(
            phase="Pending",
            statuses=[
                container_status(
                    "web", waiting_state("CreateContainerConfigError", 'secret "db-credentials" not found')
                )
            ],
        ),
        ("0/1", "CreateContainerConfigError", "0"),
    ),
    (
        "OOM killed",
        pod(
            statuses=[container_status("web", terminated_state(137, "OOMKilled"), restarts=2)],
            conditions=NOT_READY_CONDITIONS,
        ),
        ("0/1", "OOMKilled", "2"),
    ),
    (
        "killed by a signal without a reason",
        pod(
            statuses=[container_status("web", terminated_state(137, signal=9))],
            conditions=NOT_READY_CONDITIONS,
        ),
        ("0/1", "Signal:9", "0"),
    ),
    (
        "non-zero exit without a reason",
        pod(statuses=[container_status("web", terminated_state(3))], conditions=NOT_READY_CONDITIONS),
        ("0/1", "ExitCode:3", "0"),
    ),
    (
        "failed with Error",
        pod(
            phase="Failed",
            statuses=[container_status("web", terminated_state(1, "Error"))],
            conditions=NOT_READY_CONDITIONS,
        ),
        ("0/1", "Error", "0"),
    ),
    (
        "completed",
        pod(
            phase="Succeeded",
            statuses=[container_status("web", terminated_state(0, "Completed"))],
            conditions=NOT_READY_CONDITIONS,
        ),
        ("0/1", "Completed", "0"),
    ),
    (
        "completed container next to a running one, pod ready",
        pod(
            containers=["job", "web"],
            statuses=[container_status("job", terminated_state(0, "Completed")), RUNNING],
        ),
        ("1/2", "Running", "0"),
    ),
    (
        "completed container next to a running one, pod not ready",
        pod(
            containers=["job", "web"],
            statuses=[container_status("job", terminated_state(0, "Completed")), RUNNING],
            conditions=NOT_READY_CONDITIONS,
        ),
        ("1/2", "NotReady", "0"),
    ),
    (
        "a failed container outranks a completed one",
        pod(
            containers=["job", "web"],
            statuses=[
                container_status("job", terminated_state(0, "Completed")),
                container_status("web", terminated_state(1, "Error")),
            ],
            phase="Failed",
            conditions=NOT_READY_CONDITIONS,
        ),
        ("0/2", "Error", "0"),
    ),
    (
        "first init container running",
        pod(
            phase="Pending",
            init_containers=MIGRATE_INIT,
            init_statuses=[
                container_status("migrate", running_state()),
                container_status("warm-cache", waiting_state("PodInitializing")),
            ],
            statuses=[container_status("web", waiting_state("PodInitializing"))],
            conditions=INITIALIZING_CONDITIONS,
        ),
        ("0/1", "Init:0/2", "0"),
    ),
    (
        "second init container running",
        pod(
            phase="Pending",
            init_containers=MIGRATE_INIT,
            init_statuses=[
                container_status("migrate", terminated_state(0, "Completed")),
                container_status("warm-cache", running_state()),
            ],
            statuses=[container_status("web", waiting_state("PodInitializing"))],
            conditions=INITIALIZING_CONDITIONS,
        ),
        ("0/1", "Init:1/2", "0"),
    ),
    (
        "init container crash loop",
        pod(
            phase="Pending",
            init_containers=MIGRATE_INIT,
            init_statuses=[
                container_status(
                    "migrate",
                    waiting_state("CrashLoopBackOff"),
                    restarts=3,
                    last_finished="2026-11-22T14:59:30Z",
                ),
                container_status("warm-cache", waiting_state("PodInitializing")),
            ],
            statuses=[container_status("web", waiting_state("PodInitializing"))],
            conditions=INITIALIZING_CONDITIONS,
        ),
        ("0/1", "Init:CrashLoopBackOff", "3 (30s ago)"),
    ),
    (
        "init container error",
        pod(
            phase="Pending",
            init_containers=MIGRATE_INIT,
            init_statuses=[container_status("migrate", terminated_state(1, "Error"))],
            conditions=INITIALIZING_CONDITIONS,
        ),
        ("0/1", "Init:Error", "0"),
    ),
    (
        "init container exit code",
        pod(
            phase="Pending",
            init_containers=MIGRATE_INIT,
            init_statuses=[container_status("migrate", terminated_state(2))],
            conditions=INITIALIZING_CONDITIONS,
        ),
        ("0/1", "Init:ExitCode:2", "0"),
    ),
    (
        "init container signal",
        pod(
            phase="Pending",
            init_containers=MIGRATE_INIT,
            init_statuses=[container_status("migrate", terminated_state(143, signal=15))],
            conditions=INITIALIZING_CONDITIONS,
        ),
        ("0/1", "Init:Signal:15", "0"),
    ),
    (
        "sidecar counts as a container and its restarts stay",
        pod(
            init_containers=[container_spec("proxy", restart_policy="Always"), container_spec("migrate")],
            init_statuses=[
                container_status(
                    "proxy", running_state(), ready=True, restarts=1, last_finished="2026-11-22T14:55:00Z"
                ),
                container_status("migrate", terminated_state(0, "Completed"), restarts=4),
            ],
            statuses=[RUNNING],
        ),
        ("2/2", "Running", "1 (5m ago)"),
    ),
    ("terminating", pod(statuses=[RUNNING], deleted=True), ("1/1", "Terminating", "0")),
    (
        "terminated pods are not shown as terminating",
        pod(
            phase="Succeeded",
            statuses=[container_status("web", terminated_state(0, "Completed"))],
            deleted=True,
            conditions=NOT_READY_CONDITIONS,
        ),
        ("0/1", "Completed", "0"),
    ),
    ("node lost", pod(statuses=[RUNNING], reason="NodeLost", phase="Unknown"), ("1/1", "NodeLost", "0")),
    (
        "node lost while deleting",
        pod(statuses=[RUNNING], reason="NodeLost", phase="Unknown", deleted=True),
        ("1/1", "Unknown", "0"),
    ),
    (
        "evicted, no container states",
        pod(phase="Failed", reason="Evicted", conditions=NOT_READY_CONDITIONS),
        ("0/1", "Evicted", "0"),
    ),
]


@pytest.mark.parametrize(("case", "pod_object", "expected"), POD_CASES, ids=[case[0] for case in POD_CASES])
def test_pod_ready_status_and_restarts(case: str, pod_object: JSON, expected: tuple[str, str, str]) -> None:
    cells = row_cells("", "Pod", pod_object)
    assert (cells[1], cells[2], cells[3]) == expected


def test_pod_full_row_with_wide_cells() -> None:
    running = pod(statuses=[RUNNING])
    assert row_cells("", "Pod", running) == [
        "web-7d9c8b5f4-x2x9z",
        "1/1",
        "Running",
        "0",
        "3h",
        "10.244.1.5",
        "worker-1",
        "<none>",
        "<none>",
    ]


def test_pod_wide_cells_before_scheduling_and_with_readiness_gates() -> None:
    pending = pod(phase="Pending", conditions=[condition("PodScheduled", "False")], scheduled=False)
    assert row_cells("", "Pod", pending)[5:] == ["<none>", "<none>", "<none>", "<none>"]

    gated = pod(
        statuses=[RUNNING], conditions=[*RUNNING_CONDITIONS, condition("example.com/lb-ready", "True")]
    )
    gated["spec"]["readinessGates"] = [
        {"conditionType": "example.com/lb-ready"},
        {"conditionType": "example.com/dns-ready"},
    ]
    gated["status"]["nominatedNodeName"] = "worker-2"
    assert row_cells("", "Pod", gated)[7:] == ["worker-2", "1/2"]


def test_pod_columns() -> None:
    assert column_names("", "Pod") == [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ]


def test_finished_pods_carry_a_completed_row_condition() -> None:
    done = pod(phase="Succeeded", statuses=[container_status("web", terminated_state(0, "Completed"))])
    failed = pod(phase="Failed", statuses=[container_status("web", terminated_state(1, "Error"))])
    table = build_table("", "Pod", [done, failed, pod(statuses=[RUNNING])], now=NOW)
    assert [row.get("conditions") for row in table["rows"]] == [
        [
            {
                "type": "Completed",
                "status": "True",
                "reason": "Succeeded",
                "message": "The pod has completed successfully.",
            }
        ],
        [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}],
        None,
    ]


# ---------------------------------------------------------------------------------------------
# Every other built-in kind: one realistic object and the exact row the real server prints
# ---------------------------------------------------------------------------------------------


def pod_template(*containers: tuple[str, str], labels: JSON | None = None, **spec: Any) -> JSON:
    return {
        "metadata": {"labels": labels or {"app": "web"}},
        "spec": {
            "containers": [
                {"name": name, "image": image, "resources": {}, "imagePullPolicy": "IfNotPresent"}
                for name, image in containers
            ],
            "restartPolicy": spec.pop("restartPolicy", "Always"),
            **spec,
        },
    }


WEB_TEMPLATE = pod_template(("nginx", "nginx:1.27"), ("log-shipper", "fluent/fluent-bit:3.1"))
CONTROLLER_UID = "9d3e7a51-4c0b-4e8f-a2d6-7b1f0c5e9a34"

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": meta("web", generation=4, annotations={"deployment.kubernetes.io/revision": "3"}),
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": WEB_TEMPLATE,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    },
    "status": {
        "observedGeneration": 4,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "unavailableReplicas": 1,
        "conditions": [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ],
    },
}

REPLICA_SET = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "metadata": meta("web-7d9c8b5f4", labels={"app": "web", "pod-template-hash": "7d9c8b5f4"}),
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"pod-template-hash": "7d9c8b5f4", "app": "web"}},
        "template": WEB_TEMPLATE,
    },
    "status": {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 2, "availableReplicas": 2},
}

STATEFUL_SET = {
    "apiVersion": "apps/v1",
    "kind": "StatefulSet",
    "metadata": meta("postgres", created=FIFTY_TWO_DAYS_AGO),
    "spec": {
        "replicas": 3,
        "serviceName": "postgres",
        "selector": {"matchLabels": {"app": "postgres"}},
        "template": pod_template(("postgres", "postgres:16.4"), labels={"app": "postgres"}),
        "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
    },
    "status": {"replicas": 2, "readyReplicas": 1, "currentReplicas": 2, "updatedReplicas": 2},
}

DAEMON_SET = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": meta("fluent-bit", "kube-system", created="2026-11-22T14:54:30Z"),
    "spec": {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "fluent-bit"}},
        "template": pod_template(
            ("fluent-bit", "cr.fluentbit.io/fluent/fluent-bit:3.1.9"),
            labels={"app.kubernetes.io/name": "fluent-bit"},
            nodeSelector={"kubernetes.io/os": "linux"},
        ),
        "updateStrategy": {"type": "RollingUpdate"},
    },
    "status": {
        "desiredNumberScheduled": 3,
        "currentNumberScheduled": 3,
        "numberReady": 2,
        "updatedNumberScheduled": 3,
        "numberAvailable": 2,
        "numberUnavailable": 1,
        "numberMisscheduled": 0,
        "observedGeneration": 1,
    },
}


def job(name: str, *, completions: int | None = 1, parallelism: int = 1, **status: Any) -> JSON:
    spec: JSON = {
        "parallelism": parallelism,
        "backoffLimit": 6,
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": CONTROLLER_UID}},
        "template": pod_template(("migrate", "ghcr.io/acme/migrate:2.3.1"), restartPolicy="Never"),
        "completionMode": "NonIndexed",
        "suspend": False,
    }
    if completions is not None:
        spec["completions"] = completions
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(name, created="2026-11-22T14:50:00Z"),
        "spec": spec,
        "status": status,
    }


def job_condition(kind: str) -> JSON:
    return {"type": kind, "status": "True", "lastProbeTime": NOW_TEXT, "lastTransitionTime": NOW_TEXT}


COMPLETE_JOB = job(
    "db-migrate",
    succeeded=1,
    startTime="2026-11-22T14:50:00Z",
    completionTime="2026-11-22T14:51:05Z",
    conditions=[job_condition("SuccessCriteriaMet"), job_condition("Complete")],
    ready=0,
    terminating=0,
)

CRON_JOB = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": meta("nightly-backup", created=FIFTY_TWO_DAYS_AGO),
    "spec": {
        "schedule": "0 2 * * *",
        "timeZone": "Etc/UTC",
        "concurrencyPolicy": "Forbid",
        "suspend": False,
        "jobTemplate": {"spec": {"template": pod_template(("backup", "restic/restic:0.17.1"))}},
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 1,
    },
    "status": {"lastScheduleTime": "2026-11-22T02:00:00Z", "lastSuccessfulTime": "2026-11-22T02:03:12Z"},
}


def service(name: str, service_type: str, ports: list[JSON], **spec: Any) -> JSON:
    cluster_ip = spec.pop("clusterIP", "10.96.12.34")
    body: JSON = {"type": service_type, "ports": ports, "sessionAffinity": "None", **spec}
    if cluster_ip is not None:
        body.update(clusterIP=cluster_ip, clusterIPs=[cluster_ip], ipFamilies=["IPv4"])
    status: JSON = {"loadBalancer": spec.pop("load_balancer", {})}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name), "spec": body, "status": status}


HTTP_PORT = {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}
HTTPS_NODE_PORT = {"name": "https", "protocol": "TCP", "port": 443, "targetPort": 8443, "nodePort": 30443}
LOAD_BALANCED = service("shop", "LoadBalancer", [{**HTTP_PORT, "nodePort": 31080}], selector={"app": "shop"})
LOAD_BALANCED["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.10", "ipMode": "VIP"}]}}


def endpoints(name: str, ips: list[str], ports: list[JSON]) -> JSON:
    subset: JSON = {"addresses": [{"ip": ip, "nodeName": "worker-1"} for ip in ips]}
    if ports:
        subset["ports"] = ports
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta(name), "subsets": [subset]}


def node(name: str, *, ready: str | None = "True", roles: tuple[str, ...] = (), **spec: Any) -> JSON:
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        **{f"node-role.kubernetes.io/{role}": "" for role in roles},
    }
    conditions = [
        {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
        {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
    ]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready, "reason": "KubeletReady"})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta(name, None, created=FIFTY_TWO_DAYS_AGO, labels=labels),
        "spec": {"podCIDR": "10.244.1.0/24", **spec},
        "status": {
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": "172.18.0.3"},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.37.0",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.8.0-45-generic",
                "containerRuntimeVersion": "containerd://2.0.0",
                "architecture": "amd64",
                "operatingSystem": "linux",
            },
        },
    }


POD_REF = {
    "kind": "Pod",
    "namespace": "default",
    "name": "web-7d9c8b5f4-x2x9z",
    "uid": "0b6f4c2e-0001-4c51-9a37-5f0d2c7e8a91",
    "apiVersion": "v1",
    "resourceVersion": "48190",
}

BACK_OFF_EVENT = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": meta("web-7d9c8b5f4-x2x9z.18a9c3e4b1f2a3c4", created="2026-11-22T14:30:00Z"),
    "involvedObject": {**POD_REF, "fieldPath": "spec.containers{nginx}"},
    "reason": "BackOff",
    "message": "Back-off restarting failed container nginx in pod web-7d9c8b5f4-x2x9z_default\n",
    "source": {"component": "kubelet", "host": "worker-1"},
    "firstTimestamp": "2026-11-22T14:30:00Z",
    "lastTimestamp": "2026-11-22T14:58:00Z",
    "count": 12,
    "type": "Warning",
    "eventTime": None,
    "reportingComponent": "kubelet",
    "reportingInstance": "worker-1",
}
BACK_OFF_ROW = [
    "2m",
    "Warning",
    "BackOff",
    "pod/web-7d9c8b5f4-x2x9z",
    "spec.containers{nginx}",
    "kubelet, worker-1",
    "Back-off restarting failed container nginx in pod web-7d9c8b5f4-x2x9z_default",
    "30m",
    12,
    "web-7d9c8b5f4-x2x9z.18a9c3e4b1f2a3c4",
]

SCHEDULED_EVENT = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": meta("web-7d9c8b5f4-x2x9z.18a9c3e4a0b1c2d3", created="2026-11-22T14:59:10Z"),
    "involvedObject": POD_REF,
    "reason": "Scheduled",
    "message": "Successfully assigned default/web-7d9c8b5f4-x2x9z to worker-1",
    "source": {},
    "firstTimestamp": None,
    "lastTimestamp": None,
    "type": "Normal",
    "eventTime": "2026-11-22T14:59:10.123456Z",
    "action": "Binding",
    "reportingComponent": "default-scheduler",
    "reportingInstance": "default-scheduler-control-plane",
}
SCHEDULED_ROW = [
    "49s",
    "Normal",
    "Scheduled",
    "pod/web-7d9c8b5f4-x2x9z",
    "",
    "default-scheduler, default-scheduler-control-plane",
    "Successfully assigned default/web-7d9c8b5f4-x2x9z to worker-1",
    "49s",
    1,
    "web-7d9c8b5f4-x2x9z.18a9c3e4a0b1c2d3",
]

SERIES_EVENT = {
    **SCHEDULED_EVENT,
    "reason": "FailedScheduling",
    "type": "Warning",
    "message": "0/3 nodes are available: 3 Insufficient memory.",
    "series": {"count": 5, "lastObservedTime": "2026-11-22T14:59:00.000000Z"},
}

EVENTS_V1_SCHEDULED = {
    "apiVersion": "events.k8s.io/v1",
    "kind": "Event",
    "metadata": SCHEDULED_EVENT["metadata"],
    "eventTime": "2026-11-22T14:59:10.123456Z",
    "reportingController": "default-scheduler",
    "reportingInstance": "default-scheduler-control-plane",
    "action": "Binding",
    "reason": "Scheduled",
    "regarding": POD_REF,
    "note": "Successfully assigned default/web-7d9c8b5f4-x2x9z to worker-1",
    "type": "Normal",
}
EVENTS_V1_BACK_OFF = {
    "apiVersion": "events.k8s.io/v1",
    "kind": "Event",
    "metadata": BACK_OFF_EVENT["metadata"],
    "eventTime": None,
    "reason": "BackOff",
    "regarding": {**POD_REF, "fieldPath": "spec.containers{nginx}"},
    "note": BACK_OFF_EVENT["message"],
    "type": "Warning",
    "deprecatedSource": {"component": "kubelet", "host": "worker-1"},
    "deprecatedFirstTimestamp": "2026-11-22T14:30:00Z",
    "deprecatedLastTimestamp": "2026-11-22T14:58:00Z",
    "deprecatedCount": 12,
}


def claim(name: str, *, bound: bool) -> JSON:
    obj: JSON = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta(name, created=FIFTY_TWO_DAYS_AGO),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "10Gi"}},
            "storageClassName": "standard",
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Pending"},
    }
    if bound:
        obj["spec"]["volumeName"] = "pvc-3f1c2b7a-8e4d-4f0a-9c6b-1d2e3f4a5b6c"
        obj["status"] = {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}}
    return obj


PERSISTENT_VOLUME = {
    "apiVersion": "v1",
    "kind": "PersistentVolume",
    "metadata": meta("pvc-3f1c2b7a-8e4d-4f0a-9c6b-1d2e3f4a5b6c", None, created=FIFTY_TWO_DAYS_AGO),
    "spec": {
        "capacity": {"storage": "10Gi"},
        "accessModes": ["ReadWriteOnce", "ReadWriteOncePod"],
        "persistentVolumeReclaimPolicy": "Delete",
        "storageClassName": "standard",
        "volumeMode": "Filesystem",
        "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "data-postgres-0"},
        "hostPath": {"path": "/var/local-path-provisioner/pvc-3f1c2b7a", "type": "DirectoryOrCreate"},
    },
    "status": {"phase": "Bound", "lastPhaseTransitionTime": FIFTY_TWO_DAYS_AGO},
}


def hpa(metrics: list[JSON], current: list[JSON] | None, **spec: Any) -> JSON:
    status: JSON = {"currentReplicas": 3, "desiredReplicas": 3}
    if current is not None:
        status["currentMetrics"] = current
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta("web"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": metrics,
            **spec,
        },
        "status": status,
    }


CPU_80 = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
}
CPU_AT_45 = {
    "type": "Resource",
    "resource": {"name": "cpu", "current": {"averageUtilization": 45, "averageValue": "45m"}},
}
MEMORY_500MI = {
    "type": "Resource",
    "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}},
}
MEMORY_AT_300MI = {
    "type": "Resource",
    "resource": {"name": "memory", "current": {"averageValue": "314572800"}},
}
PACKETS = {
    "type": "Pods",
    "pods": {
        "metric": {"name": "packets-per-second"},
        "target": {"type": "AverageValue", "averageValue": "1k"},
    },
}
QUEUE_DEPTH = {
    "type": "External",
    "external": {"metric": {"name": "queue_depth"}, "target": {"type": "AverageValue", "averageValue": "30"}},
}
HPA_V1 = {
    "apiVersion": "autoscaling/v1",
    "kind": "HorizontalPodAutoscaler",
    "metadata": meta("web"),
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 5,
        "targetCPUUtilizationPercentage": 50,
    },
    "status": {"currentReplicas": 2, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 30},
}


def simple(api_version: str, kind: str, name: str, namespace: str | None = "default", **body: Any) -> JSON:
    created = body.pop("created", THREE_HOURS_AGO)
    metadata = meta(name, namespace, created=created, **body.pop("metadata", {}))
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}


INGRESS = simple(
    "networking.k8s.io/v1",
    "Ingress",
    "shop",
    spec={
        "ingressClassName": "nginx",
        "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
        "rules": [
            {
                "host": "shop.example.com",
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "shop", "port": {"number": 80}}},
                        }
                    ]
                },
            }
        ],
    },
    status={"loadBalancer": {"ingress": [{"ip": "203.0.113.20"}, {"hostname": "lb.example.com"}]}},
)
MANY_HOSTS_INGRESS = simple(
    "networking.k8s.io/v1",
    "Ingress",
    "docs",
    spec={"rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {}, {"host": "d.example.com"}, {}]},
    status={"loadBalancer": {}},
)

RESOURCE_QUOTA = simple(
    "v1",
    "ResourceQuota",
    "compute",
    spec={"hard": {"requests.cpu": "2", "requests.memory": "4Gi", "limits.cpu": "4", "limits.memory": "8Gi"}},
    status={
        "hard": {
            "limits.cpu": "4",
            "limits.memory": "8Gi",
            "pods": "20",
            "requests.cpu": "2",
            "requests.memory": "4Gi",
        },
        "used": {
            "limits.cpu": "1500m",
            "limits.memory": "3072Mi",
            "pods": "5",
            "requests.cpu": "750m",
            "requests.memory": "1536Mi",
        },
    },
)

KIND_CASES: list[tuple[str, str, str, JSON, list[Any]]] = [
    (
        "deployment",
        "apps",
        "Deployment",
        DEPLOYMENT,
        ["web", "2/3", 3, 2, "3h", "nginx,log-shipper", "nginx:1.27,fluent/fluent-bit:3.1", "app=web"],
    ),
    (
        "replicaset",
        "apps",
        "ReplicaSet",
        REPLICA_SET,
        [
            "web-7d9c8b5f4",
            3,
            3,
            2,
            "3h",
            "nginx,log-shipper",
            "nginx:1.27,fluent/fluent-bit:3.1",
            "app=web,pod-template-hash=7d9c8b5f4",
        ],
    ),
    (
        "statefulset",
        "apps",
        "StatefulSet",
        STATEFUL_SET,
        ["postgres", "1/3", "52d", "postgres", "postgres:16.4"],
    ),
    (
        "daemonset",
        "apps",
        "DaemonSet",
        DAEMON_SET,
        [
            "fluent-bit",
            3,
            3,
            2,
            3,
            2,
            "kubernetes.io/os=linux",
            "5m30s",
            "fluent-bit",
            "cr.fluentbit.io/fluent/fluent-bit:3.1.9",
            "app.kubernetes.io/name=fluent-bit",
        ],
    ),
    (
        "controllerrevision",
        "apps",
        "ControllerRevision",
        simple(
            "apps/v1",
            "ControllerRevision",
            "postgres-5c8f7b6d9",
            created=FIFTY_TWO_DAYS_AGO,
            metadata={
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "StatefulSet",
                        "name": "postgres",
                        "uid": "u",
                        "controller": True,
                    }
                ]
            },
            data={},
            revision=2,
        ),
        ["postgres-5c8f7b6d9", "statefulset.apps/postgres", 2, "52d"],
    ),
    (
        "replicationcontroller",
        "",
        "ReplicationController",
        simple(
            "v1",
            "ReplicationController",
            "legacy",
            spec={
                "replicas": 2,
                "selector": {"app": "legacy"},
                "template": pod_template(("app", "busybox:1.36")),
            },
            status={"replicas": 2, "readyReplicas": 2},
        ),
        ["legacy", 2, 2, 2, "3h", "app", "busybox:1.36", "app=legacy"],
    ),
    (
        "podtemplate",
        "",
        "PodTemplate",
        simple("v1", "PodTemplate", "batch-worker", template=pod_template(("worker", "busybox:1.36"))),
        ["batch-worker", "worker", "busybox:1.36", "app=web"],
    ),
    (
        "job complete",
        "batch",
        "Job",
        COMPLETE_JOB,
        [
            "db-migrate",
            "Complete",
            "1/1",
            "65s",
            "10m",
            "migrate",
            "ghcr.io/acme/migrate:2.3.1",
            f"batch.kubernetes.io/controller-uid={CONTROLLER_UID}",
        ],
    ),
    (
        "job running",
        "batch",
        "Job",
        job("reindex", completions=3, parallelism=2, active=2, succeeded=1, startTime="2026-11-22T14:55:00Z"),
        ["reindex", "Running", "1/3", "5m", "10m"],
    ),
    (
        "job failed",
        "batch",
        "Job",
        job(
            "flaky",
            failed=7,
            startTime="2026-11-22T14:50:00Z",
            conditions=[job_condition("FailureTarget"), job_condition("Failed")],
        ),
        ["flaky", "Failed", "0/1", "10m", "10m"],
    ),
    (
        "job suspended, never started",
        "batch",
        "Job",
        job("paused", completions=None, parallelism=3, conditions=[job_condition("Suspended")]),
        ["paused", "Suspended", "0/1 of 3", "", "10m"],
    ),
    (
        "cronjob",
        "batch",
        "CronJob",
        CRON_JOB,
        [
            "nightly-backup",
            "0 2 * * *",
            "Etc/UTC",
            "False",
            0,
            "13h",
            "52d",
            "backup",
            "restic/restic:0.17.1",
            "<none>",
        ],
    ),
    (
        "service cluster ip",
        "",
        "Service",
        service("web", "ClusterIP", [HTTP_PORT], selector={"app": "web"}),
        ["web", "ClusterIP", "10.96.12.34", "<none>", "80/TCP", "3h", "app=web"],
    ),
    (
        "service node port",
        "",
        "Service",
        service(
            "web-np", "NodePort", [{**HTTP_PORT, "nodePort": 30080}, HTTPS_NODE_PORT], selector={"app": "web"}
        ),
        ["web-np", "NodePort", "10.96.12.34", "<none>", "80:30080/TCP,443:30443/TCP", "3h", "app=web"],
    ),
    (
        "service load balancer pending",
        "",
        "Service",
        service("shop", "LoadBalancer", [{**HTTP_PORT, "nodePort": 31080}], selector={"app": "shop"}),
        ["shop", "LoadBalancer", "10.96.12.34", "<pending>", "80:31080/TCP", "3h", "app=shop"],
    ),
    (
        "service load balancer ready",
        "",
        "Service",
        LOAD_BALANCED,
        ["shop", "LoadBalancer", "10.96.12.34", "203.0.113.10", "80:31080/TCP", "3h", "app=shop"],
    ),
    (
        "service headless with external ips",
        "",
        "Service",
        service(
            "db",
            "ClusterIP",
            [{"protocol": "UDP", "port": 53}],
            clusterIP="None",
            externalIPs=["198.51.100.7"],
        ),
        ["db", "ClusterIP", "None", "198.51.100.7", "53/UDP", "3h", "<none>"],
    ),
    (
        "service external name",
        "",
        "Service",
        service("billing", "ExternalName", [], clusterIP=None, externalName="billing.example.com"),
        ["billing", "ExternalName", "<none>", "billing.example.com", "<none>", "3h", "<none>"],
    ),
    (
        "endpoints",
        "",
        "Endpoints",
        endpoints("web", ["10.244.1.5", "10.244.2.7"], [{"name": "http", "port": 8080, "protocol": "TCP"}]),
        ["web", "10.244.1.5:8080,10.244.2.7:8080", "3h"],
    ),
    (
        "endpoints beyond three",
        "",
        "Endpoints",
        endpoints("web", [f"10.244.1.{i}" for i in range(1, 6)], [{"port": 80, "protocol": "TCP"}]),
        ["web", "10.244.1.1:80,10.244.1.2:80,10.244.1.3:80 + 2 more...", "3h"],
    ),
    (
        "endpoints headless without ports, ipv6",
        "",
        "Endpoints",
        endpoints("dns", ["fd00::a", "fd00::b"], []),
        ["dns", "fd00::a,fd00::b", "3h"],
    ),
    (
        "endpoints without subsets",
        "",
        "Endpoints",
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta("idle")},
        ["idle", "<none>", "3h"],
    ),
    (
        "endpointslice",
        "discovery.k8s.io",
        "EndpointSlice",
        simple(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            "web-abc12",
            addressType="IPv4",
            ports=[{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "metrics", "protocol": "TCP"}],
            endpoints=[
                {"addresses": ["10.244.1.5"], "conditions": {"ready": True}, "nodeName": "worker-1"},
                {"addresses": ["10.244.2.7"], "conditions": {"ready": True}, "nodeName": "worker-2"},
            ],
        ),
        ["web-abc12", "IPv4", "8080,metrics", "10.244.1.5,10.244.2.7", "3h"],
    ),
    (
        "endpointslice empty",
        "discovery.k8s.io",
        "EndpointSlice",
        simple(
            "discovery.k8s.io/v1", "EndpointSlice", "idle-x1", addressType="IPv4", endpoints=None, ports=None
        ),
        ["idle-x1", "IPv4", "<unset>", "<unset>", "3h"],
    ),
    (
        "node cordoned worker",
        "",
        "Node",
        node("worker-1", roles=("worker",), unschedulable=True),
        [
            "worker-1",
            "Ready,SchedulingDisabled",
            "worker",
            "52d",
            "v1.37.0",
            "172.18.0.3",
            "<none>",
            "Debian GNU/Linux 12 (bookworm)",
            "6.8.0-45-generic",
            "containerd://2.0.0",
        ],
    ),
    (
        "node not ready control plane",
        "",
        "Node",
        node("cp-1", ready="False", roles=("control-plane", "etcd")),
        ["cp-1", "NotReady", "control-plane,etcd", "52d", "v1.37.0"],
    ),
    ("node without conditions", "", "Node", node("new-1", ready=None), ["new-1", "Unknown", "<none>", "52d"]),
    (
        "namespace",
        "",
        "Namespace",
        simple("v1", "Namespace", "shop", None, created=FIFTY_TWO_DAYS_AGO, status={"phase": "Active"}),
        ["shop", "Active", "52d"],
    ),
    ("event", "", "Event", BACK_OFF_EVENT, BACK_OFF_ROW),
    ("event from the events api", "", "Event", SCHEDULED_EVENT, SCHEDULED_ROW),
    (
        "event series",
        "",
        "Event",
        SERIES_EVENT,
        [
            "60s",
            "Warning",
            "FailedScheduling",
            "pod/web-7d9c8b5f4-x2x9z",
            "",
            "default-scheduler, default-scheduler-control-plane",
            "0/3 nodes are available: 3 Insufficient memory.",
            "49s",
            5,
            "web-7d9c8b5f4-x2x9z.18a9c3e4a0b1c2d3",
        ],
    ),
    ("events.k8s.io event", "events.k8s.io", "Event", EVENTS_V1_SCHEDULED, SCHEDULED_ROW),
    ("events.k8s.io deprecated fields", "events.k8s.io", "Event", EVENTS_V1_BACK_OFF, BACK_OFF_ROW),
    (
        "configmap",
        "",
        "ConfigMap",
        simple(
            "v1",
            "ConfigMap",
            "app-config",
            data={"app.yaml": "port: 8080\n", "LOG_LEVEL": "info"},
            binaryData={"logo.png": "iVBORw0KGgo="},
        ),
        ["app-config", 3, "3h"],
    ),
    (
        "secret",
        "",
        "Secret",
        simple(
            "v1", "Secret", "shop-tls", type="kubernetes.io/tls", data={"tls.crt": "LS0t", "tls.key": "LS0t"}
        ),
        ["shop-tls", "kubernetes.io/tls", 2, "3h"],
    ),
    (
        "serviceaccount",
        "",
        "ServiceAccount",
        simple("v1", "ServiceAccount", "default", created=FIFTY_TWO_DAYS_AGO),
        ["default", "52d"],
    ),
    (
        "pvc bound",
        "",
        "PersistentVolumeClaim",
        claim("data-postgres-0", bound=True),
        [
            "data-postgres-0",
            "Bound",
            "pvc-3f1c2b7a-8e4d-4f0a-9c6b-1d2e3f4a5b6c",
            "10Gi",
            "RWO",
            "standard",
            "<unset>",
            "52d",
            "Filesystem",
        ],
    ),
    (
        "pvc pending",
        "",
        "PersistentVolumeClaim",
        claim("cache", bound=False),
        ["cache", "Pending", "", "", "", "standard", "<unset>", "52d", "Filesystem"],
    ),
    (
        "persistentvolume",
        "",
        "PersistentVolume",
        PERSISTENT_VOLUME,
        [
            "pvc-3f1c2b7a-8e4d-4f0a-9c6b-1d2e3f4a5b6c",
            "10Gi",
            "RWO,RWOP",
            "Delete",
            "Bound",
            "default/data-postgres-0",
            "standard",
            "<unset>",
            "",
            "52d",
            "Filesystem",
        ],
    ),
    (
        "resourcequota",
        "",
        "ResourceQuota",
        RESOURCE_QUOTA,
        [
            "compute",
            "pods: 5/20, requests.cpu: 750m/2, requests.memory: 1536Mi/4Gi",
            "limits.cpu: 1500m/4, limits.memory: 3Gi/8Gi",
            "3h",
        ],
    ),
    (
        "hpa utilization",
        "autoscaling",
        "HorizontalPodAutoscaler",
        hpa([CPU_80], [CPU_AT_45]),
        ["web", "Deployment/web", "cpu: 45%/80%", "2", 10, 3, "3h"],
    ),
    (
        "hpa without metrics yet",
        "autoscaling",
        "HorizontalPodAutoscaler",
        hpa([CPU_80], None),
        ["web", "Deployment/web", "cpu: <unknown>/80%", "2", 10, 3, "3h"],
    ),
    (
        "hpa with more metrics than shown",
        "autoscaling",
        "HorizontalPodAutoscaler",
        hpa([CPU_80, MEMORY_500MI, PACKETS, QUEUE_DEPTH], [CPU_AT_45, MEMORY_AT_300MI], minReplicas=None),
        [
            "web",
            "Deployment/web",
            "cpu: 45%/80%, memory: 314572800/500Mi + 2 more...",
            "<unset>",
            10,
            3,
            "3h",
        ],
    ),
    (
        "hpa pods and external metrics",
        "autoscaling",
        "HorizontalPodAutoscaler",
        hpa([PACKETS, QUEUE_DEPTH], None),
        ["web", "Deployment/web", "<unknown>/1k, <unknown>/30 (avg)", "2", 10, 3, "3h"],
    ),
    (
        "hpa autoscaling/v1",
        "autoscaling",
        "HorizontalPodAutoscaler",
        HPA_V1,
        ["web", "Deployment/web", "cpu: 30%/50%", "1", 5, 2, "3h"],
    ),
    (
        "pdb min available",
        "policy",
        "PodDisruptionBudget",
        simple(
            "policy/v1",
            "PodDisruptionBudget",
            "web-pdb",
            spec={"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
            status={"currentHealthy": 3, "desiredHealthy": 2, "disruptionsAllowed": 1, "expectedPods": 3},
        ),
        ["web-pdb", "2", "N/A", 1, "3h"],
    ),
    (
        "pdb max unavailable",
        "policy",
        "PodDisruptionBudget",
        simple("policy/v1", "PodDisruptionBudget", "db-pdb", spec={"maxUnavailable": "25%"}, status={}),
        ["db-pdb", "N/A", "25%", 0, "3h"],
    ),
    (
        "ingress",
        "networking.k8s.io",
        "Ingress",
        INGRESS,
        ["shop", "nginx", "shop.example.com", "203.0.113.20,lb.example.com", "80, 443", "3h"],
    ),
    (
        "ingress with many hosts",
        "networking.k8s.io",
        "Ingress",
        MANY_HOSTS_INGRESS,
        ["docs", "<none>", "a.example.com,b.example.com,d.example.com + 2 more...", "", "80", "3h"],
    ),
    (
        "ingressclass",
        "networking.k8s.io",
        "IngressClass",
        simple(
            "networking.k8s.io/v1",
            "IngressClass",
            "nginx",
            None,
            spec={
                "controller": "k8s.io/ingress-nginx",
                "parameters": {
                    "apiGroup": "k8s.example.com",
                    "kind": "IngressParameters",
                    "name": "external-lb",
                },
            },
        ),
        ["nginx", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/external-lb", "3h"],
    ),
    (
        "networkpolicy default deny",
        "networking.k8s.io",
        "NetworkPolicy",
        simple(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "default-deny",
            spec={"podSelector": {}, "policyTypes": ["Ingress"]},
        ),
        ["default-deny", "<none>", "3h"],
    ),
    (
        "networkpolicy with expressions",
        "networking.k8s.io",
        "NetworkPolicy",
        simple(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "allow-web",
            spec={
                "podSelector": {
                    "matchLabels": {"app": "web"},
                    "matchExpressions": [
                        {"key": "tier", "operator": "In", "values": ["frontend", "edge"]},
                        {"key": "canary", "operator": "DoesNotExist"},
                    ],
                }
            },
        ),
        ["allow-web", "app=web,!canary,tier in (edge,frontend)", "3h"],
    ),
    (
        "storageclass default",
        "storage.k8s.io",
        "StorageClass",
        simple(
            "storage.k8s.io/v1",
            "StorageClass",
            "standard",
            None,
            created=FIFTY_TWO_DAYS_AGO,
            metadata={"annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            provisioner="rancher.io/local-path",
            reclaimPolicy="Delete",
            volumeBindingMode="WaitForFirstConsumer",
        ),
        ["standard (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", False, "52d"],
    ),
    (
        "storageclass expandable",
        "storage.k8s.io",
        "StorageClass",
        simple(
            "storage.k8s.io/v1",
            "StorageClass",
            "fast",
            None,
            provisioner="ebs.csi.aws.com",
            reclaimPolicy="Retain",
            volumeBindingMode="Immediate",
            allowVolumeExpansion=True,
        ),
        ["fast", "ebs.csi.aws.com", "Retain", "Immediate", True, "3h"],
    ),
    (
        "rolebinding",
        "rbac.authorization.k8s.io",
        "RoleBinding",
        simple(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "web-readers",
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            subjects=[
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "jane"},
                {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "dev-team"},
                {"kind": "ServiceAccount", "name": "web", "namespace": "default"},
                {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
            ],
        ),
        ["web-readers", "Role/pod-reader", "3h", "jane", "dev-team", "default/web, tools/ci"],
    ),
    (
        "clusterrolebinding",
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        simple(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "cluster-admin",
            None,
            created=FIFTY_TWO_DAYS_AGO,
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            subjects=[{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:masters"}],
        ),
        ["cluster-admin", "ClusterRole/cluster-admin", "52d", "", "system:masters", ""],
    ),
    (
        "lease",
        "coordination.k8s.io",
        "Lease",
        simple(
            "coordination.k8s.io/v1",
            "Lease",
            "worker-1",
            "kube-node-lease",
            created=FIFTY_TWO_DAYS_AGO,
            spec={
                "holderIdentity": "worker-1",
                "leaseDurationSeconds": 40,
                "renewTime": "2026-11-22T14:59:55.000000Z",
            },
        ),
        ["worker-1", "worker-1", "52d"],
    ),
    (
        "priorityclass",
        "scheduling.k8s.io",
        "PriorityClass",
        simple(
            "scheduling.k8s.io/v1",
            "PriorityClass",
            "system-cluster-critical",
            None,
            created=FIFTY_TWO_DAYS_AGO,
            value=2000000000,
            description="Used for system critical pods that must run in the cluster, but can be moved.",
            preemptionPolicy="PreemptLowerPriority",
        ),
        ["system-cluster-critical", 2000000000, False, "52d", "PreemptLowerPriority"],
    ),
    (
        "role without a printer",
        "rbac.authorization.k8s.io",
        "Role",
        simple("rbac.authorization.k8s.io/v1", "Role", "pod-reader", rules=[]),
        ["pod-reader", "2026-11-22T12:00:00Z"],
    ),
    (
        "clusterrole without a printer",
        "rbac.authorization.k8s.io",
        "ClusterRole",
        simple(
            "rbac.authorization.k8s.io/v1", "ClusterRole", "view", None, created=FIFTY_TWO_DAYS_AGO, rules=[]
        ),
        ["view", "2026-10-01T00:00:00Z"],
    ),
    (
        "limitrange without a printer",
        "",
        "LimitRange",
        simple(
            "v1",
            "LimitRange",
            "defaults",
            spec={"limits": [{"type": "Container", "default": {"cpu": "500m"}}]},
        ),
        ["defaults", "2026-11-22T12:00:00Z"],
    ),
    (
        "crd without a printer",
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        simple("apiextensions.k8s.io/v1", "CustomResourceDefinition", "certificates.cert-manager.io", None),
        ["certificates.cert-manager.io", "2026-11-22T12:00:00Z"],
    ),
]


@pytest.mark.parametrize(
    ("case", "group", "kind", "obj", "expected"), KIND_CASES, ids=[case[0] for case in KIND_CASES]
)
def test_kind_rows(case: str, group: str, kind: str, obj: JSON, expected: list[Any]) -> None:
    cells = row_cells(group, kind, obj)
    assert cells[: len(expected)] == expected
    assert len(cells) == len(build_table(group, kind, [], now=NOW)["columnDefinitions"])


# The column names of the real printers, in order; "+" marks a wide (priority 1) column.
COLUMN_CASES: list[tuple[str, str, str]] = [
    ("apps", "Deployment", "Name|Ready|Up-to-date|Available|Age|+Containers|+Images|+Selector"),
    ("apps", "StatefulSet", "Name|Ready|Age|+Containers|+Images"),
    ("batch", "Job", "Name|Status|Completions|Duration|Age|+Containers|+Images|+Selector"),
    ("", "Service", "Name|Type|Cluster-IP|External-IP|Port(s)|Age|+Selector"),
    (
        "",
        "Node",
        "Name|Status|Roles|Age|Version|+Internal-IP|+External-IP|+OS-Image|+Kernel-Version|+Container-Runtime",
    ),
    ("", "Event", "Last Seen|Type|Reason|Object|+Subobject|+Source|Message|+First Seen|+Count|+Name"),
    ("", "ServiceAccount", "Name|Age"),
    ("autoscaling", "HorizontalPodAutoscaler", "Name|Reference|Targets|MinPods|MaxPods|Replicas|Age"),
    ("rbac.authorization.k8s.io", "Role", "Name|Created At"),
]


@pytest.mark.parametrize(("group", "kind", "expected"), COLUMN_CASES, ids=[case[1] for case in COLUMN_CASES])
def test_column_definitions(group: str, kind: str, expected: str) -> None:
    shown = [("+" if priority else "") + name for name, priority in column_names(group, kind)]
    assert "|".join(shown) == expected


def test_column_definition_fields() -> None:
    columns = build_table("", "Pod", [], now=NOW)["columnDefinitions"]
    assert columns[0]["format"] == "name"
    assert columns[0]["description"].startswith("Name must be unique within a namespace.")
    assert columns[5] == {
        "name": "IP",
        "type": "string",
        "format": "",
        "description": "podIP address allocated to the pod. Routable at least within the cluster. Empty if "
        "not yet allocated.",
        "priority": 1,
    }
    created_at = build_table("", "LimitRange", [], now=NOW)["columnDefinitions"][1]
    assert (created_at["name"], created_at["type"]) == ("Created At", "date")


# ---------------------------------------------------------------------------------------------
# Row objects, list metadata
# ---------------------------------------------------------------------------------------------


def test_rows_carry_partial_object_metadata_by_default() -> None:
    running = pod(statuses=[RUNNING])
    table = build_table("", "Pod", [running], now=NOW, list_meta={"resourceVersion": "48213", "continue": ""})
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "48213"}
    partial = table["rows"][0]["object"]
    assert partial == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": running["metadata"],
    }
    # Stored objects are immutable, so rows share their metadata instead of copying it (the
    # copy was half the cost of printing a large list).
    assert partial["metadata"] is running["metadata"]


@pytest.mark.parametrize(
    ("include_object", "expected_kind"),
    [("Metadata", "PartialObjectMetadata"), ("", "PartialObjectMetadata"), ("Object", "Pod")],
)
def test_include_object_policies(include_object: str, expected_kind: str) -> None:
    table = build_table("", "Pod", [pod(statuses=[RUNNING])], now=NOW, include_object=include_object)
    assert table["rows"][0]["object"]["kind"] == expected_kind


def test_include_object_none_leaves_rows_without_objects() -> None:
    table = build_table("", "Pod", [pod(statuses=[RUNNING])], now=NOW, include_object="None")
    assert "object" not in table["rows"][0]


def test_include_object_rejects_unknown_values() -> None:
    with pytest.raises(ValueError, match="unrecognized includeObject value"):
        build_table("", "Pod", [], now=NOW, include_object="Everything")


def test_list_metadata_is_copied() -> None:
    list_meta = {
        "resourceVersion": "9001",
        "continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ",
        "remainingItemCount": 40,
    }
    table = build_table("", "ConfigMap", [], now=NOW, list_meta=list_meta)
    assert table["metadata"] == list_meta
    assert table["rows"] == []


def test_rows_keep_item_order() -> None:
    names = ["b", "a", "c"]
    items = [simple("v1", "ConfigMap", name, data={}) for name in names]
    table = build_table("", "ConfigMap", items, now=NOW)
    assert [row["cells"][0] for row in table["rows"]] == names


# ---------------------------------------------------------------------------------------------
# Custom resources
# ---------------------------------------------------------------------------------------------

CERTIFICATE_COLUMNS: list[JSON] = [
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Secret", "type": "string", "jsonPath": ".spec.secretName"},
    {"name": "Issuer", "type": "string", "jsonPath": ".spec.issuerRef.name", "priority": 1},
    {
        "name": "Status",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
        "priority": 1,
    },
    {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
        "description": "When the certificate was created.",
    },
]
CERTIFICATE = simple(
    "cert-manager.io/v1",
    "Certificate",
    "shop-tls",
    spec={
        "secretName": "shop-tls",
        "dnsNames": ["shop.example.com", "www.shop.example.com"],
        "issuerRef": {"name": "letsencrypt-prod", "kind": "ClusterIssuer", "group": "cert-manager.io"},
    },
    status={
        "conditions": [
            {"type": "Issuing", "status": "False", "reason": "Issued"},
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "Certificate is up to date and has not expired",
            },
        ],
        "notAfter": "2027-02-20T14:00:00Z",
        "lastIssued": "2026-11-21T15:00:00Z",
        "revision": 3,
    },
)


def test_custom_resource_printer_columns() -> None:
    table = build_table(
        "cert-manager.io", "Certificate", [CERTIFICATE], now=NOW, printer_columns=CERTIFICATE_COLUMNS
    )
    assert [(c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", 0),
        ("Ready", "string", 0),
        ("Secret", "string", 0),
        ("Issuer", "string", 1),
        ("Status", "string", 1),
        ("Age", "date", 0),
    ]
    descriptions = [column["description"] for column in table["columnDefinitions"]]
    assert descriptions[2] == "Custom resource definition column (in JSONPath format): .spec.secretName"
    assert descriptions[5] == CERTIFICATE_COLUMNS[4]["description"]
    assert table["rows"][0]["cells"] == [
        "shop-tls",
        "True",
        "shop-tls",
        "letsencrypt-prod",
        "Certificate is up to date and has not expired",
        "3h",
    ]


TYPED_COLUMN_CASES: list[tuple[str, str, Any]] = [
    ("integer", ".status.revision", 3),
    ("integer", ".spec.ratio", 2),
    ("number", ".status.revision", 3.0),
    ("number", ".spec.ratio", 2.5),
    ("boolean", ".spec.paused", False),
    ("boolean", ".spec.secretName", None),
    ("string", ".spec.dnsNames[*]", "shop.example.com"),
    ("string", ".spec.dnsNames[1]", "www.shop.example.com"),
    ("string", ".spec.dnsNames[-1]", "www.shop.example.com"),
    ("string", ".spec.dnsNames[7]", None),
    ("string", ".spec.dnsNames", '["shop.example.com","www.shop.example.com"]'),
    (
        "string",
        ".spec.issuerRef",
        '{"group":"cert-manager.io","kind":"ClusterIssuer","name":"letsencrypt-prod"}',
    ),
    ("string", ".status.revision", "3"),
    ("string", ".spec.ratio", "2.5"),
    ("string", ".spec.paused", "false"),
    ("string", ".status.missing", None),
    ("string", '.status.conditions[?(@.type!="Ready")].reason', "Issued"),
    ("string", ".metadata.labels['app.kubernetes.io/name']", "shop"),
    ("string", ".metadata.labels.app\\.kubernetes\\.io/name", "shop"),
    ("string", ".status..reason", None),  # recursive descent is outside the supported subset
    ("date", ".status.lastIssued", "24h"),
    ("date", ".status.notAfter", "<invalid>"),  # a time in the future
    ("date", ".spec.secretName", "<invalid>"),
    ("date", ".spec.empty", "<unknown>"),
    ("date", ".status.revision", None),
]


@pytest.mark.parametrize(("column_type", "json_path", "expected"), TYPED_COLUMN_CASES)
def test_custom_resource_cell_types(column_type: str, json_path: str, expected: Any) -> None:
    resource = copy_with(
        CERTIFICATE,
        metadata={"labels": {"app.kubernetes.io/name": "shop"}},
        spec={"ratio": 2.5, "paused": False, "empty": ""},
    )
    columns = [{"name": "Value", "type": column_type, "jsonPath": json_path}]
    cells = row_cells("cert-manager.io", "Certificate", resource, printer_columns=columns)
    assert cells[1] == expected


@pytest.mark.parametrize("printer_columns", [None, []])
def test_custom_resource_without_printer_columns_gets_an_age_column(
    printer_columns: list[JSON] | None,
) -> None:
    table = build_table(
        "cert-manager.io", "Certificate", [CERTIFICATE], now=NOW, printer_columns=printer_columns
    )
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [
        ("Name", "string"),
        ("Age", "date"),
    ]
    assert table["rows"][0]["cells"] == ["shop-tls", "3h"]


def test_printer_columns_win_over_built_in_printers() -> None:
    columns = [{"name": "Phase", "type": "string", "jsonPath": ".status.phase"}]
    assert row_cells("", "Pod", pod(statuses=[RUNNING]), printer_columns=columns) == [
        "web-7d9c8b5f4-x2x9z",
        "Running",
    ]


@pytest.mark.parametrize(
    ("path", "data", "expected"),
    [
        (".a.b", {"a": {"b": 1}}, [1]),
        ("{.a[*].b}", {"a": [{"b": 1}, {"c": 2}, {"b": 3}]}, [1, 3]),
        (
            '.items[?(@.kind=="Pod")].name',
            {"items": [{"kind": "Pod", "name": "p"}, {"kind": "Svc", "name": "s"}]},
            ["p"],
        ),
        (
            ".items[?(@.replicas==2)].name",
            {"items": [{"replicas": 2, "name": "x"}, {"replicas": True, "name": "y"}]},
            ["x"],
        ),
        (
            ".items[?(@.ready==true)].name",
            {"items": [{"ready": 1, "name": "x"}, {"ready": True, "name": "y"}]},
            ["y"],
        ),
        (".a[0]", {"a": {"0": "map, not list"}}, []),
    ],
)
def test_jsonpath_subset(path: str, data: Any, expected: list[Any]) -> None:
    steps = parse_jsonpath(path)
    assert steps is not None
    assert evaluate_jsonpath(steps, data) == expected


@pytest.mark.parametrize("path", [".a..b", ".a[1:3]", ".a[?(@.x > 1)]", "a.b", ".a[", '.a[?(@.b=="x")'])
def test_jsonpath_outside_the_subset_is_rejected(path: str) -> None:
    assert parse_jsonpath(path) is None


def test_cached_pod_rows_follow_resource_version_and_the_clock() -> None:
    base = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "cached",
            "namespace": "default",
            "uid": "uid-cached",
            "resourceVersion": "1",
            "creationTimestamp": "2026-11-22T10:00:00Z",
        },
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "app",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ErrImagePull"}},
                }
            ],
        },
    }
    start = parse_timestamp("2026-11-22T10:05:00Z")
    assert start is not None
    first = build_table("", "Pod", [base], now=start, cache_rows=True)["rows"][0]["cells"]
    assert first[2:5] == ["ErrImagePull", "0", "5m"]
    # The same (uid, resourceVersion) an hour later: the cached row, with a fresh AGE.
    later = build_table("", "Pod", [base], now=start + 3600, cache_rows=True)["rows"][0]["cells"]
    assert later[2:5] == ["ErrImagePull", "0", "65m"]
    # A new resourceVersion is printed anew.
    running = {
        **base,
        "metadata": {**base["metadata"], "resourceVersion": "2"},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "app",
                    "ready": True,
                    "restartCount": 1,
                    "state": {"running": {}},
                    "lastState": {"terminated": {"finishedAt": "2026-11-22T11:03:00Z"}},
                }
            ],
        },
    }
    updated = build_table("", "Pod", [running], now=start + 3600, cache_rows=True)["rows"][0]["cells"]
    assert updated[1:5] == ["1/1", "Running", "1 (2m ago)", "65m"]

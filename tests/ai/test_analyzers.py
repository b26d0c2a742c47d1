"""Each analyzer on hand-written objects: what it concludes, on which resource, quoting what."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from pilothouse.ai.findings import Cause, Finding
from pilothouse.ai.snapshot import ClusterSnapshot
from tests.ai import factory as f


@dataclass
class Case:
    """Objects -> the finding expected among the analyzer's output."""

    name: str
    build: Callable[[], ClusterSnapshot]
    cause: Cause
    resource: str  # "Kind/name"
    says: tuple[str, ...] = ()
    role: str | None = None
    severity: str | None = None
    quotes: tuple[str, ...] = field(default_factory=tuple)


def _crash(reason: str, code: int, lines: list[str] | None = None, **kw: object) -> ClusterSnapshot:
    dep = f.deployment("api", containers=[f.container("api", resources={"limits": {"memory": "512Mi"}})])
    rs = f.replicaset(dep)
    p = f.pod(
        "api-1abc-x",
        parent=rs,
        statuses=[f.waiting("api", restarts=4, last=f.terminated(reason, code))],
        ready=False,
    )
    logs = {("default", "api-1abc-x", "api", True): lines} if lines else {}
    return f.snapshot(
        dep,
        rs,
        p,
        f.event(p, "BackOff", "Back-off restarting failed container api in pod api-1abc-x"),
        logs=logs,
    )


def oom() -> ClusterSnapshot:
    return _crash("OOMKilled", 137)


def missing_env() -> ClusterSnapshot:
    snap = _crash("Error", 1, ["starting", "Error: required environment variable DATABASE_URL is not set"])
    snap.secrets.append(f.obj("Secret", "db", data={"DATABASE_URL": "", "PASSWORD": ""}))
    return snap


def generic_crash() -> ClusterSnapshot:
    return _crash(
        "Error", 2, ["INFO starting", "ERROR report: --since must be at most 24h (got 48h)", "usage: report"]
    )


def dependency_crash() -> ClusterSnapshot:
    snap = _crash(
        "Error", 1, ["error: cannot reach mysql:3306: dial tcp 10.96.0.3:3306: connect: connection refused"]
    )
    snap.services.append(f.service("mysql", {"app": "mariadb"}, [{"port": 3306}]))
    return snap


def image(message: str) -> Callable[[], ClusterSnapshot]:
    def build() -> ClusterSnapshot:
        dep = f.deployment("web", containers=[f.container("web", "acme/web:2.4.10")])
        p = f.pod(
            "web-1",
            parent=dep,
            statuses=[
                f.waiting(
                    "web", "ImagePullBackOff", f"Back-off pulling image: {message}", image="acme/web:2.4.10"
                )
            ],
            ready=False,
            phase="Pending",
        )
        return f.snapshot(dep, p, f.event(p, "Failed", f'Failed to pull image "acme/web:2.4.10": {message}'))

    return build


def config_error(message: str, *extra: f.Json) -> Callable[[], ClusterSnapshot]:
    def build() -> ClusterSnapshot:
        env = [
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "auth-db", "key": "password"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
        ]
        dep = f.deployment("auth", containers=[f.container("auth", env=env)])
        p = f.pod(
            "auth-1",
            parent=dep,
            statuses=[f.waiting("auth", "CreateContainerConfigError", message)],
            ready=False,
            phase="Pending",
        )
        return f.snapshot(dep, p, f.event(p, "Failed", f"Error: {message}"), *extra)

    return build


def waiting_reason(reason: str, message: str) -> Callable[[], ClusterSnapshot]:
    def build() -> ClusterSnapshot:
        p = f.pod("solo", statuses=[f.waiting("app", reason, message)], ready=False, phase="Pending")
        return f.snapshot(p)

    return build


def probe(port: int, message: str, *, liveness: bool = True) -> Callable[[], ClusterSnapshot]:
    def build() -> ClusterSnapshot:
        probes: dict[str, Any] = (
            {
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": port}},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
            }
            if liveness
            else {"readinessProbe": {"httpGet": {"path": "/ready", "port": port}}}
        )
        c = f.container("inv", ports=[{"containerPort": 8080, "name": "http"}], **probes)
        dep = f.deployment("inv", containers=[c])
        if liveness:
            status = f.waiting("inv", restarts=3, last=f.terminated("Error", 137))
        else:
            status = f.running("inv", ready=False)
        p = f.pod("inv-1", parent=dep, statuses=[status], ready=False)
        events = [f.event(p, "Unhealthy", message)]
        if liveness:
            events.append(
                f.event(
                    p, "Killing", "Container inv failed liveness probe, will be restarted", type_="Normal"
                )
            )
        logs = {("default", "inv-1", "inv", False): ["WARN No mapping for GET /ready"]}
        return f.snapshot(dep, p, *events, logs=logs)

    return build


def unschedulable(message: str, *nodes: f.Json, spec: f.Json | None = None) -> Callable[[], ClusterSnapshot]:
    def build() -> ClusterSnapshot:
        c = f.container("trainer", resources={"requests": {"memory": "24Gi", "cpu": "2"}})
        dep = f.deployment("trainer", containers=[c], pod_spec=spec)
        cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
        p = f.pod(
            "trainer-1", parent=dep, statuses=[], phase="Pending", ready=False, node=None, conditions=[cond]
        )
        return f.snapshot(dep, p, f.event(p, "FailedScheduling", message), *nodes)

    return build


def init_failing() -> ClusterSnapshot:
    dep = f.deployment(
        "orders", containers=[f.container("orders")], pod_spec={"initContainers": [f.container("migrate")]}
    )
    p = f.pod(
        "orders-1",
        parent=dep,
        phase="Pending",
        ready=False,
        statuses=[f.waiting("orders", "PodInitializing")],
        init_statuses=[f.waiting("migrate", restarts=3, last=f.terminated("Error", 1))],
    )
    logs = {
        ("default", "orders-1", "migrate", True): [
            "Traceback (most recent call last):",
            'psycopg.OperationalError: FATAL:  password authentication failed for user "orders"',
        ]
    }
    return f.snapshot(dep, p, logs=logs)


def evicted() -> ClusterSnapshot:
    p = f.pod(
        "batch-1",
        phase="Failed",
        ready=False,
        statuses=[],
        reason="Evicted",
        message="The node was low on resource: memory.",
    )
    return f.snapshot(p, f.node("node-1"))


def terminating() -> ClusterSnapshot:
    p = f.pod("api-1", node="node-2")
    p["metadata"]["deletionTimestamp"] = "2025-06-03T09:06:00Z"
    return f.snapshot(p, f.node("node-2", ready="Unknown"))


def failed_mount() -> ClusterSnapshot:
    dep = f.deployment(
        "mailer", pod_spec={"volumes": [{"name": "templates", "configMap": {"name": "mailer-templates"}}]}
    )
    p = f.pod(
        "mailer-1", parent=dep, statuses=[f.waiting("app", "ContainerCreating")], phase="Pending", ready=False
    )
    return f.snapshot(
        dep,
        p,
        f.obj("ConfigMap", "mailer-template", data={"a": "b"}),
        f.event(
            p,
            "FailedMount",
            'MountVolume.SetUp failed for volume "templates" : configmap "mailer-templates" not found',
        ),
    )


def short_deployment() -> ClusterSnapshot:
    status = {
        "replicas": 3,
        "availableReplicas": 1,
        "conditions": [
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": 'ReplicaSet "web-2" has timed out progressing.',
            }
        ],
    }
    return f.snapshot(f.deployment("web", replicas=3, status=status))


def failed_create(message: str) -> Callable[[], ClusterSnapshot]:
    def build() -> ClusterSnapshot:
        dep = f.deployment("builder", pod_spec={"serviceAccountName": "builder"}, status={"replicas": 0})
        rs = f.replicaset(dep)
        quota = f.obj("ResourceQuota", "compute", status={"used": {"pods": "10"}, "hard": {"pods": "10"}})
        return f.snapshot(dep, rs, quota, f.event(rs, "FailedCreate", message))

    return build


def selector_mismatch() -> ClusterSnapshot:
    db = f.pod(
        "mysql-0",
        labels={"app": "mysql"},
        containers=[f.container("mysql", ports=[{"containerPort": 3306, "name": "mysql"}])],
    )
    other = f.pod(
        "ghost-1",
        labels={"app": "ghost"},
        containers=[f.container("ghost", ports=[{"containerPort": 2368, "name": "http"}])],
    )
    svc = f.service("mysql", {"app": "mariadb"}, [{"port": 3306, "targetPort": "mysql"}])
    return f.snapshot(db, other, svc)


def target_port() -> ClusterSnapshot:
    dep = f.deployment("api", containers=[f.container("api", ports=[{"containerPort": 8080}])])
    p = f.pod("api-1", parent=dep)
    svc = f.service("api", {"app": "api"}, [{"name": "http", "port": 80, "targetPort": 8000}])
    return f.snapshot(dep, p, svc)


def not_ready_service() -> ClusterSnapshot:
    dep = f.deployment("api")
    p = f.pod("api-1", parent=dep, ready=False, statuses=[f.running("app", ready=False)])
    return f.snapshot(dep, p, f.service("api", {"app": "api"}, [{"port": 80}]))


def ingress(spec: f.Json) -> Callable[[], ClusterSnapshot]:
    def build() -> ClusterSnapshot:
        return f.snapshot(
            f.obj("Ingress", "shop", spec=spec),
            f.obj("IngressClass", "nginx", None, spec={}),
            f.service("web", {"app": "web"}, [{"port": 80}]),
        )

    return build


def pvc_pending() -> ClusterSnapshot:
    claim = f.obj(
        "PersistentVolumeClaim", "data", spec={"storageClassName": "fast-ssd"}, status={"phase": "Pending"}
    )
    sc = f.obj("StorageClass", "standard", None)
    return f.snapshot(
        claim, sc, f.event(claim, "ProvisioningFailed", 'storageclass.storage.k8s.io "fast-ssd" not found')
    )


def job_failed() -> ClusterSnapshot:
    job = f.obj(
        "Job",
        "export",
        spec={"backoffLimit": 1},
        status={
            "failed": 2,
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            ],
        },
    )
    p = f.pod(
        "export-1",
        phase="Failed",
        ready=False,
        statuses=[
            {
                "name": "app",
                "state": {"terminated": f.terminated("Error", 1)},
                "ready": False,
                "restartCount": 0,
                "image": "x",
            }
        ],
    )
    p["metadata"]["ownerReferences"] = [
        {"kind": "Job", "name": "export", "uid": job["metadata"]["uid"], "controller": True}
    ]
    logs = {
        ("default", "export-1", "app", False): [
            "uploading",
            "botocore.exceptions.NoCredentialsError: Unable to locate credentials",
        ]
    }
    return f.snapshot(
        job, p, f.event(job, "BackoffLimitExceeded", "Job has reached the specified backoff limit"), logs=logs
    )


def cronjob(**spec: object) -> Callable[[], ClusterSnapshot]:
    def build() -> ClusterSnapshot:
        return f.snapshot(
            f.obj(
                "CronJob",
                "nightly",
                spec={
                    "schedule": "30 2 * * *",
                    "jobTemplate": {"spec": {"template": {"spec": {"containers": [f.container()]}}}},
                    **spec,
                },
            )
        )

    return build


def hpa(target_exists: bool = True) -> ClusterSnapshot:
    dep = f.deployment(
        "checkout", containers=[f.container("checkout", resources={"limits": {"memory": "512Mi"}})]
    )
    pods = [f.pod(f"checkout-{i}", parent=dep) for i in range(2)]
    message = (
        "the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for"
        " cpu in container checkout of Pod checkout-0"
    )
    h = f.obj(
        "HorizontalPodAutoscaler",
        "checkout",
        spec={
            "scaleTargetRef": {"kind": "Deployment", "name": "checkout" if target_exists else "gone"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
        status={
            "currentReplicas": 2,
            "conditions": [
                {
                    "type": "ScalingActive",
                    "status": "False",
                    "reason": "FailedGetResourceMetric",
                    "message": message,
                }
            ],
        },
    )
    metrics = [
        {
            "metadata": {"name": p["metadata"]["name"], "namespace": "default"},
            "timestamp": f.NOW,
            "containers": [{"name": "checkout", "usage": {"cpu": "850m", "memory": "300Mi"}}],
        }
        for p in pods
    ]
    return f.snapshot(dep, *pods, h, pod_metrics=metrics)


def pdb() -> ClusterSnapshot:
    dep = f.deployment("db", replicas=2)
    pods = [f.pod(f"db-{i}", parent=dep) for i in range(2)]
    budget = f.obj(
        "PodDisruptionBudget",
        "db",
        spec={"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}},
        status={"disruptionsAllowed": 0, "currentHealthy": 2, "desiredHealthy": 2, "expectedPods": 2},
    )
    return f.snapshot(dep, *pods, budget)


def netpol(callers_log: bool) -> Callable[[], ClusterSnapshot]:
    def build() -> ClusterSnapshot:
        cache = f.pod(
            "cache-1",
            labels={"app": "cache"},
            containers=[f.container("redis", ports=[{"containerPort": 6379, "name": "redis"}])],
        )
        api = f.deployment("api")
        api_pod = f.pod("api-1", parent=api, ready=False, statuses=[f.running("app", ready=False)])
        worker = f.pod("worker-1", labels={"app": "worker"})
        svc = f.service("cache", {"app": "cache"}, [{"port": 6379, "targetPort": "redis"}])
        policy = f.obj(
            "NetworkPolicy",
            "cache-ingress",
            spec={
                "podSelector": {"matchLabels": {"app": "cache"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": {"app": "worker"}}}],
                        "ports": [{"protocol": "TCP", "port": 6379}],
                    }
                ],
            },
        )
        lines = (
            [f"error: cannot reach cache:6379: dial tcp {svc['spec']['clusterIP']}:6379: i/o timeout"]
            if callers_log
            else ["ok"]
        )
        empty = f.obj("NetworkPolicy", "nothing", spec={"podSelector": {"matchLabels": {"app": "ghost"}}})
        return f.snapshot(
            cache, api, api_pod, worker, svc, policy, empty, logs={("default", "api-1", "app", False): lines}
        )

    return build


def rbac() -> ClusterSnapshot:
    dep = f.deployment("syncer", pod_spec={"serviceAccountName": "syncer"})
    p = f.pod("syncer-1", parent=dep)
    role = f.obj(
        "Role", "syncer", rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
    )
    binding = f.obj(
        "RoleBinding",
        "syncer",
        roleRef={"kind": "Role", "name": "syncer"},
        subjects=[{"kind": "ServiceAccount", "name": "syncer", "namespace": "default"}],
    )
    line = (
        'error: 403 Forbidden: secrets is forbidden: User "system:serviceaccount:default:syncer" cannot'
        " list resource "
        '"secrets" in API group "" in the namespace "default"'
    )
    return f.snapshot(
        dep,
        p,
        role,
        binding,
        f.obj("ServiceAccount", "syncer"),
        logs={("default", "syncer-1", "app", False): [line, line]},
    )


def posture() -> ClusterSnapshot:
    c = f.container(
        "agent",
        securityContext={"privileged": True, "runAsUser": 0},
        env=[{"name": "API_TOKEN", "value": "s3cr3t-do-not-quote"}],
    )
    return f.snapshot(
        f.obj(
            "DaemonSet",
            "agent",
            spec={
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [c], "hostNetwork": True},
                }
            },
        )
    )


def cost() -> ClusterSnapshot:
    dep = f.deployment(
        "idle",
        containers=[
            f.container(
                "idle", resources={"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}}
            )
        ],
    )
    p = f.pod("idle-1", parent=dep)
    metrics = [
        {
            "metadata": {"name": "idle-1", "namespace": "default"},
            "timestamp": f.NOW,
            "containers": [{"name": "idle", "usage": {"cpu": "50m", "memory": "300Mi"}}],
        }
    ]
    return f.snapshot(dep, p, pod_metrics=metrics)


def nodes() -> ClusterSnapshot:
    return f.snapshot(f.node("node-1", ready="Unknown"), f.node("node-2", MemoryPressure="True"))


CASES = [
    Case("oom", oom, Cause.OOM_KILLED, "Deployment/api", ("OOMKilled", "512Mi", "exit code 137"), "cause"),
    Case(
        "missing env",
        missing_env,
        Cause.MISSING_ENV_VAR,
        "Deployment/api",
        ("DATABASE_URL", "Secret db has key DATABASE_URL"),
    ),
    Case(
        "generic crash",
        generic_crash,
        Cause.CRASH_LOOP,
        "Deployment/api",
        ("exit code 2", "--since must be at most 24h"),
    ),
    Case(
        "crash on dependency",
        dependency_crash,
        Cause.CRASH_LOOP,
        "Deployment/api",
        ("cannot reach mysql:3306",),
        "symptom",
    ),
    Case(
        "image not found",
        image("rpc error: code = NotFound desc = failed to resolve reference: acme/web:2.4.10: not found"),
        Cause.IMAGE_NOT_FOUND,
        "Deployment/web",
        ("acme/web:2.4.10", "not found"),
    ),
    Case(
        "image unauthorized",
        image("pull access denied, repository does not exist or may require authorization"),
        Cause.IMAGE_PULL_UNAUTHORIZED,
        "Deployment/web",
        ("pull access denied", "no imagePullSecrets"),
    ),
    Case(
        "image other",
        image("dial tcp: lookup registry: no such host"),
        Cause.IMAGE_PULL_FAILED,
        "Deployment/web",
        ("no such host",),
    ),
    Case(
        "invalid image",
        waiting_reason(
            "InvalidImageName", 'Failed to apply default image tag "Acme/App": invalid reference format'
        ),
        Cause.INVALID_IMAGE_NAME,
        "Pod/solo",
        ("invalid reference format",),
    ),
    Case(
        "run container error",
        waiting_reason("RunContainerError", 'exec: "/app": permission denied'),
        Cause.RUN_CONTAINER_ERROR,
        "Pod/solo",
        ("permission denied",),
    ),
    Case(
        "other waiting reason",
        waiting_reason("ErrImageNeverPull", 'Container image "x" is not present with pull policy of Never'),
        Cause.IMAGE_PULL_FAILED,
        "Pod/solo",
        ("pull policy of Never",),
    ),
    Case(
        "missing secret key",
        config_error(
            "couldn't find key password in Secret default/auth-db",
            f.obj("Secret", "auth-db", data={"postgres-password": "", "username": ""}),
        ),
        Cause.MISSING_SECRET_KEY,
        "Deployment/auth",
        ("key password", "DB_PASSWORD", "postgres-password, username"),
    ),
    Case(
        "missing secret",
        config_error('secret "auth-db" not found'),
        Cause.MISSING_SECRET,
        "Deployment/auth",
        ("Secret auth-db does not exist",),
    ),
    Case(
        "missing configmap key",
        config_error(
            "couldn't find key mode in ConfigMap default/settings",
            f.obj("ConfigMap", "settings", data={"level": "x"}),
        ),
        Cause.MISSING_CONFIGMAP_KEY,
        "Deployment/auth",
        ("key mode", "level"),
    ),
    Case(
        "liveness wrong port",
        probe(
            8081,
            (
                'Liveness probe failed: Get "http://10.0.0.1:8081/healthz": dial tcp 10.0.0.1:8081: connect:'
                " connection refused"
            ),
        ),
        Cause.LIVENESS_PROBE_MISCONFIGURED,
        "Deployment/inv",
        ("port 8081", "8080/http"),
    ),
    Case(
        "liveness failing",
        probe(8080, "Liveness probe failed: HTTP probe failed with statuscode: 500"),
        Cause.LIVENESS_PROBE_FAILING,
        "Deployment/inv",
        ("statuscode: 500",),
    ),
    Case(
        "readiness 404",
        probe(8080, "Readiness probe failed: HTTP probe failed with statuscode: 404", liveness=False),
        Cause.READINESS_PROBE_FAILING,
        "Deployment/inv",
        ("GET /ready", "answers 404"),
        quotes=("No mapping for GET /ready",),
    ),
    Case(
        "insufficient memory",
        unschedulable("0/1 nodes are available: 1 Insufficient memory.", f.node("node-1", memory="16Gi")),
        Cause.INSUFFICIENT_RESOURCES,
        "Deployment/trainer",
        ("24.0Gi of memory", "more than any node", "largest 16.0Gi"),
    ),
    Case(
        "untolerated taint",
        unschedulable(
            "0/1 nodes are available: 1 node(s) had untolerated taint {gpu: present}.",
            f.node("gpu-1", taints=[{"key": "gpu", "value": "present", "effect": "NoSchedule"}]),
        ),
        Cause.UNTOLERATED_TAINT,
        "Deployment/trainer",
        ("gpu=present:NoSchedule", "gpu-1"),
    ),
    Case(
        "node selector",
        unschedulable(
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
            f.node("node-1"),
            spec={"nodeSelector": {"pool": "big"}},
        ),
        Cause.NODE_SELECTOR_MISMATCH,
        "Deployment/trainer",
        ("pool=big",),
    ),
    Case(
        "init container",
        init_failing,
        Cause.INIT_CONTAINER_FAILING,
        "Deployment/orders",
        ("migrate", "password authentication failed"),
    ),
    Case("evicted", evicted, Cause.POD_EVICTED, "Pod/batch-1", ("low on resource: memory",), "symptom"),
    Case(
        "terminating on lost node",
        terminating,
        Cause.POD_STUCK_TERMINATING,
        "Pod/api-1",
        ("node-2", "Ready=Unknown"),
        "symptom",
    ),
    Case(
        "failed mount",
        failed_mount,
        Cause.MISSING_CONFIGMAP,
        "Deployment/mailer",
        ("mailer-templates", "similar: mailer-template"),
    ),
    Case(
        "short of replicas",
        short_deployment,
        Cause.WORKLOAD_UNAVAILABLE,
        "Deployment/web",
        ("1 of 3",),
        "symptom",
    ),
    Case(
        "progress deadline",
        short_deployment,
        Cause.PROGRESS_DEADLINE_EXCEEDED,
        "Deployment/web",
        ("timed out progressing",),
    ),
    Case(
        "missing serviceaccount",
        failed_create(
            'pods "builder-1abc-" is forbidden: error looking up service account default/builder:'
            ' serviceaccount "builder" not found'
        ),
        Cause.MISSING_SERVICEACCOUNT,
        "Deployment/builder",
        ("ServiceAccount builder",),
    ),
    Case(
        "quota",
        failed_create(
            'pods "builder-1abc-x" is forbidden: exceeded quota: compute, requested: pods=1, used:'
            " pods=10, limited: pods=10"
        ),
        Cause.QUOTA_EXCEEDED,
        "Deployment/builder",
        ("compute", "limited pods=10"),
    ),
    Case(
        "selector mismatch",
        selector_mismatch,
        Cause.SERVICE_SELECTOR_MISMATCH,
        "Service/mysql",
        ("app=mariadb", "mysql-0", "app=mysql"),
    ),
    Case(
        "target port",
        target_port,
        Cause.SERVICE_TARGETPORT_MISMATCH,
        "Service/api",
        ("targetPort 8000", "8080"),
    ),
    Case(
        "no ready endpoints",
        not_ready_service,
        Cause.SERVICE_NO_READY_ENDPOINTS,
        "Service/api",
        ("no ready endpoints",),
        "symptom",
    ),
    Case(
        "ingress class",
        ingress({"ingressClassName": "traefik", "rules": []}),
        Cause.INGRESS_CLASS_MISSING,
        "Ingress/shop",
        ("traefik", "nginx"),
    ),
    Case(
        "ingress backend",
        ingress(
            {
                "ingressClassName": "nginx",
                "rules": [
                    {
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "backend": {"service": {"name": "gone", "port": {"number": 80}}},
                                }
                            ]
                        }
                    }
                ],
            }
        ),
        Cause.INGRESS_BACKEND_MISSING,
        "Ingress/shop",
        ("Service gone does not exist",),
    ),
    Case(
        "ingress tls",
        ingress({"ingressClassName": "nginx", "tls": [{"secretName": "shop-tls"}]}),
        Cause.INGRESS_TLS_SECRET_MISSING,
        "Ingress/shop",
        ("shop-tls",),
    ),
    Case(
        "pvc pending", pvc_pending, Cause.PVC_UNBOUND, "PersistentVolumeClaim/data", ("fast-ssd", "standard")
    ),
    Case(
        "node not ready",
        nodes,
        Cause.NODE_NOT_READY,
        "Node/node-1",
        ("Ready=Unknown", "Kubelet stopped posting"),
        severity="critical",
    ),
    Case("node pressure", nodes, Cause.NODE_PRESSURE, "Node/node-2", ("MemoryPressure",)),
    Case(
        "job backoff",
        job_failed,
        Cause.JOB_BACKOFF_LIMIT_EXCEEDED,
        "Job/export",
        ("2 attempts", "backoffLimit 1", "exits 1", "NoCredentialsError"),
    ),
    Case(
        "cronjob suspended",
        cronjob(suspend=True),
        Cause.CRONJOB_SUSPENDED,
        "CronJob/nightly",
        ("suspended",),
        "risk",
    ),
    Case(
        "cronjob schedule",
        cronjob(schedule="61 * * * *"),
        Cause.CRONJOB_INVALID_SCHEDULE,
        "CronJob/nightly",
        ("61", "out of range"),
    ),
    Case(
        "hpa missing request",
        hpa,
        Cause.HPA_MISSING_METRICS,
        "HorizontalPodAutoscaler/checkout",
        ("no cpu request", "2 replicas"),
    ),
    Case(
        "hpa missing target",
        lambda: hpa(target_exists=False),
        Cause.HPA_MISSING_TARGET,
        "HorizontalPodAutoscaler/checkout",
        ("Deployment default/gone",),
    ),
    Case(
        "pdb", pdb, Cause.PDB_BLOCKS_DISRUPTION, "PodDisruptionBudget/db", ("minAvailable 2", "0 disruptions")
    ),
    Case(
        "netpol blocks",
        netpol(True),
        Cause.NETWORKPOLICY_BLOCKS_TRAFFIC,
        "NetworkPolicy/cache-ingress",
        ("app=worker", "Deployment default/api", "i/o timeout"),
    ),
    Case(
        "netpol selects nothing",
        netpol(False),
        Cause.NETWORKPOLICY_SELECTS_NOTHING,
        "NetworkPolicy/nothing",
        ("app=ghost",),
        "risk",
    ),
    Case(
        "rbac",
        rbac,
        Cause.RBAC_FORBIDDEN,
        "Role/syncer",
        ("list secrets", "configmaps"),
        quotes=('cannot list resource "secrets"',),
    ),
    Case(
        "privileged", posture, Cause.PRIVILEGED_CONTAINER, "DaemonSet/agent", ("privileged",), "risk", "high"
    ),
    Case("host namespaces", posture, Cause.HOST_NAMESPACES, "DaemonSet/agent", ("hostNetwork",)),
    Case("root", posture, Cause.RUNS_AS_ROOT, "DaemonSet/agent", ("runAsUser 0",)),
    Case("no limits", posture, Cause.NO_RESOURCE_LIMITS, "DaemonSet/agent", ("no memory limit",)),
    Case(
        "default sa", posture, Cause.DEFAULT_SERVICE_ACCOUNT, "DaemonSet/agent", ("default ServiceAccount",)
    ),
    Case("secret in env", posture, Cause.SECRET_IN_ENV, "DaemonSet/agent", ("API_TOKEN",)),
    Case(
        "overprovisioned",
        cost,
        Cause.OVERPROVISIONED_REQUESTS,
        "Deployment/idle",
        ("requests 2 cpu", "uses 50m"),
        "risk",
    ),
]


def _find(findings: list[Finding], case: Case) -> Finding:
    kind, name = case.resource.split("/")
    found = [
        x for x in findings if x.cause == case.cause and x.resource.kind == kind and x.resource.name == name
    ]
    assert found, (
        f"{case.name}: no {case.cause} on {case.resource}; got"
        f" {[(x.cause.value, str(x.resource), x.summary) for x in findings]}"
    )
    return found[0]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_analyzer_finds(case: Case) -> None:
    finding = _find(await f.analyze(case.build()), case)
    for text in case.says:
        assert text in finding.summary, f"{text!r} not in {finding.summary!r}"
    if case.role is not None:
        assert finding.role == case.role
    if case.severity is not None:
        assert finding.severity == case.severity
    quotes = " | ".join(e.quote for e in finding.evidence)
    for text in case.quotes:
        assert text in quotes, f"{text!r} not quoted: {quotes}"
    assert finding.evidence, "a finding without evidence"
    for item in finding.evidence:
        assert item.id.startswith("ev-") and item.quote
    # JSON all the way: what the API stores and an LLM reads.
    assert type(finding).model_validate_json(finding.model_dump_json()) == finding


async def test_finding_ids_are_stable() -> None:
    first = {x.id for x in await f.analyze(oom())}
    second = {x.id for x in await f.analyze(oom())}
    assert first and first == {x.id for x in await f.analyze(oom())}
    assert len(second) == len(first)


async def test_secret_values_are_never_quoted() -> None:
    findings = await f.analyze(posture())
    assert "s3cr3t-do-not-quote" not in "".join(x.model_dump_json() for x in findings)


async def test_a_healthy_pod_yields_nothing_but_posture() -> None:
    dep = f.deployment(
        "web",
        containers=[
            f.container(
                "web", resources={"limits": {"memory": "64Mi"}}, securityContext={"runAsNonRoot": True}
            )
        ],
        pod_spec={"serviceAccountName": "web"},
    )
    findings = await f.analyze(
        f.snapshot(dep, f.pod("web-1", parent=dep), f.service("web", {"app": "web"}, [{"port": 80}]))
    )
    assert findings == []


async def test_a_crash_loop_is_diagnosed_once_per_workload() -> None:
    dep = f.deployment("api", replicas=2)
    rs = f.replicaset(dep)
    pods = [
        f.pod(
            f"api-{i}",
            parent=rs,
            statuses=[f.waiting("app", restarts=4, last=f.terminated("OOMKilled", 137))],
        )
        for i in range(2)
    ]
    findings = [x for x in await f.analyze(f.snapshot(dep, rs, *pods), "pods") if x.cause == Cause.OOM_KILLED]
    assert len(findings) == 1
    assert "2 of 2 pods" in findings[0].summary
    assert {r.name for r in findings[0].related} >= {"api-0", "api-1", rs["metadata"]["name"]}


async def test_unknown_dependency_is_not_invented() -> None:
    # The log names a host the cluster has no Service for: no dependency is claimed.
    snap = _crash("Error", 1, ["error: cannot reach db.example.com:5432: connect: connection refused"])
    finding = next(x for x in await f.analyze(snap, "pods") if x.resource.name == "api")
    assert finding.cause == Cause.CRASH_LOOP
    assert finding.depends_on == []


async def test_a_collection_we_could_not_read_proves_nothing_missing() -> None:
    dep = f.deployment("mailer", pod_spec={"volumes": [{"name": "t", "configMap": {"name": "templates"}}]})
    p = f.pod(
        "mailer-1", parent=dep, statuses=[f.waiting("app", "ContainerCreating")], phase="Pending", ready=False
    )
    readable = f.snapshot(dep, p)
    assert Cause.MISSING_CONFIGMAP in {x.cause for x in await f.analyze(readable, "pods")}
    forbidden = f.snapshot(dep, p)
    forbidden.errors["configmaps"] = "403 Forbidden: configmaps is forbidden"
    assert Cause.MISSING_CONFIGMAP not in {x.cause for x in await f.analyze(forbidden, "pods")}

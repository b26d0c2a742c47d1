"""kubectl rollout, scale, describe and events against the simulated controllers."""

from __future__ import annotations

from tests.sim.e2e.conftest import Sim

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: nginx
          image: nginx:1.27
          ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
"""


async def _deployed(sim: Sim) -> None:
    await sim.kubectl("apply", "-f", "-", stdin=DEPLOYMENT)
    sim.advance(15)


async def test_rollout_status_restart_history_and_undo(sim: Sim) -> None:
    await _deployed(sim)
    status = await sim.kubectl("rollout", "status", "deployment/web", "--timeout=10s")
    assert 'deployment "web" successfully rolled out' in status.stdout

    await sim.kubectl("set", "image", "deployment/web", "nginx=nginx:1.28")
    sim.advance(30)
    await sim.kubectl("rollout", "restart", "deployment/web")
    sim.advance(30)
    history = (await sim.kubectl("rollout", "history", "deployment/web")).stdout.split()
    assert history[history.index("REVISION") + 2 :: 2] == ["1", "2", "3"]

    await sim.kubectl("rollout", "undo", "deployment/web", "--to-revision=1")
    sim.advance(30)
    image = await sim.kubectl(
        "get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"
    )
    assert image.stdout == "nginx:1.27"
    assert "successfully rolled out" in (await sim.kubectl("rollout", "status", "deployment/web")).stdout
    pods = await sim.kubectl(
        "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.containers[0].image}"
    )
    assert pods.stdout.split() == ["nginx:1.27", "nginx:1.27"]


async def test_scale_changes_replicas_and_endpoints(sim: Sim) -> None:
    await _deployed(sim)
    assert "scaled" in (await sim.kubectl("scale", "deployment/web", "--replicas=4")).stdout
    sim.advance(15)
    ready = await sim.kubectl("get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}")
    assert ready.stdout == "4"
    addresses = await sim.kubectl("get", "endpoints", "web", "-o", "jsonpath={.subsets[0].addresses[*].ip}")
    assert len(addresses.stdout.split()) == 4
    await sim.kubectl("scale", "deployment/web", "--replicas=1")
    sim.advance(15)
    names = (await sim.kubectl("get", "pods", "-l", "app=web", "-o", "name")).stdout.split()
    assert len(names) == 1


async def test_describe_deployment_node_and_service(sim: Sim) -> None:
    await _deployed(sim)
    deployment = (await sim.kubectl("describe", "deployment", "web")).stdout
    assert (
        "Replicas:               2 desired | 2 updated | 2 total | 2 available | 0 unavailable" in deployment
    )
    assert "NewReplicaSet:" in deployment
    assert "ScalingReplicaSet" in deployment.split("Events:")[1]
    node_name = (
        await sim.kubectl("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].spec.nodeName}")
    ).stdout
    node = (await sim.kubectl("describe", "node", node_name)).stdout
    assert "Ready            True" in node or "Ready                True" in node
    assert "Allocated resources:" in node
    assert "Non-terminated Pods:" in node and "web-" in node
    service = (await sim.kubectl("describe", "service", "web")).stdout
    assert "Endpoints:" in service and ":80" in service.split("Endpoints:")[1].splitlines()[0]


async def test_events_command_lists_scheduling_and_kubelet_events(sim: Sim) -> None:
    await _deployed(sim)
    events = (await sim.kubectl("events")).stdout
    for reason in ("ScalingReplicaSet", "SuccessfulCreate", "Scheduled", "Pulled", "Started"):
        assert reason in events
    warnings = (await sim.kubectl("events", "--types=Warning")).stdout
    assert "Scheduled" not in warnings
    by_kind = await sim.kubectl(
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=ReplicaSet",
        "-o",
        "jsonpath={.items[*].reason}",
    )
    assert set(by_kind.stdout.split()) == {"SuccessfulCreate"}


async def test_unschedulable_pod_reports_the_scheduler_message(sim: Sim) -> None:
    await sim.kubectl(
        "run",
        "huge",
        "--image=nginx:1.27",
        "--overrides",
        '{"spec":{"containers":[{"name":"huge","image":"nginx:1.27",'
        '"resources":{"requests":{"memory":"64Gi"}}}]}}',
    )
    sim.advance(5)
    row = (await sim.kubectl("get", "pod", "huge", "--no-headers")).stdout.split()
    assert row[2] == "Pending"
    events = (await sim.kubectl("get", "events", "--field-selector", "reason=FailedScheduling")).stdout
    assert "0/3 nodes are available: 3 Insufficient memory." in events

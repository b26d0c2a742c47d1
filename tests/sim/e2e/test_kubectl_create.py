"""`kubectl create <generator>` sends protobuf bodies; the sim decodes them."""

from __future__ import annotations

import base64

from tests.sim.e2e.conftest import Sim


def _get(result: object) -> dict[str, object]:
    assert isinstance(result, dict)
    return result


async def test_kubectl_create_generators_send_protobuf(sim: Sim) -> None:
    await sim.kubectl("create", "namespace", "team-a")
    namespace = _get((await sim.kubectl("get", "namespace", "team-a", "-o", "json")).json())
    assert namespace["metadata"]["name"] == "team-a"  # type: ignore[index]

    await sim.kubectl("create", "configmap", "cfg", "--from-literal=a=b")
    configmap = _get((await sim.kubectl("get", "configmap", "cfg", "-o", "json")).json())
    assert configmap["data"] == {"a": "b"}

    await sim.kubectl("create", "secret", "generic", "s", "--from-literal=p=q")
    secret = _get((await sim.kubectl("get", "secret", "s", "-o", "json")).json())
    assert secret["data"] == {"p": base64.b64encode(b"q").decode()}
    assert secret["type"] == "Opaque"

    await sim.kubectl("create", "deployment", "hello", "--image=nginx:1.27", "--replicas=2")
    deployment = _get((await sim.kubectl("get", "deployment", "hello", "-o", "json")).json())
    spec = deployment["spec"]
    assert spec["replicas"] == 2  # type: ignore[index]
    assert spec["selector"] == {"matchLabels": {"app": "hello"}}  # type: ignore[index]
    container = spec["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert container["name"] == "nginx"
    assert container["image"] == "nginx:1.27"
    sim.advance(30)
    pods = _get((await sim.kubectl("get", "pods", "-l", "app=hello", "-o", "json")).json())
    phases = [pod["status"]["phase"] for pod in pods["items"]]  # type: ignore[attr-defined]
    assert phases == ["Running", "Running"]

    await sim.kubectl("create", "service", "clusterip", "hello", "--tcp=80:8080")
    service = _get((await sim.kubectl("get", "service", "hello", "-o", "json")).json())
    port = service["spec"]["ports"][0]  # type: ignore[index]
    assert (port["port"], port["targetPort"], port["protocol"]) == (80, 8080, "TCP")
    assert service["spec"]["selector"] == {"app": "hello"}  # type: ignore[index]
    assert service["spec"]["type"] == "ClusterIP"  # type: ignore[index]

    await sim.kubectl("create", "job", "once", "--image=busybox:1.37")
    job = _get((await sim.kubectl("get", "job", "once", "-o", "json")).json())
    job_container = job["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert job_container["image"] == "busybox:1.37"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"  # type: ignore[index]

    await sim.kubectl("create", "role", "r", "--verb=get", "--resource=pods")
    role = _get((await sim.kubectl("get", "role", "r", "-o", "json")).json())
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]

    await sim.kubectl("create", "rolebinding", "rb", "--role=r", "--user=u")
    binding = _get((await sim.kubectl("get", "rolebinding", "rb", "-o", "json")).json())
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "u"}]


async def test_kubectl_create_more_generators(sim: Sim) -> None:
    commands = [
        ("serviceaccount", "robot"),
        ("cronjob", "tick", "--image=busybox:1.37", "--schedule=*/5 * * * *"),
        ("clusterrole", "reader", "--verb=get,list", "--resource=pods"),
        ("clusterrolebinding", "crb", "--clusterrole=reader", "--group=g"),
        ("quota", "q", "--hard=cpu=2,memory=1Gi,pods=10"),
        ("poddisruptionbudget", "pdb", "--selector=app=hello", "--min-available=1"),
        ("ingress", "web", "--rule=example.com/=hello:80"),
        ("priorityclass", "critical", "--value=1000", "--description=batch work"),
    ]
    for command in commands:
        await sim.kubectl("create", *command)
    cronjob = _get((await sim.kubectl("get", "cronjob", "tick", "-o", "json")).json())
    assert cronjob["spec"]["schedule"] == "*/5 * * * *"  # type: ignore[index]
    jt = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[index]
    assert jt["containers"][0]["image"] == "busybox:1.37"
    quota = _get((await sim.kubectl("get", "quota", "q", "-o", "json")).json())
    assert quota["spec"]["hard"] == {"cpu": "2", "memory": "1Gi", "pods": "10"}  # type: ignore[index]
    pdb = _get((await sim.kubectl("get", "pdb", "pdb", "-o", "json")).json())
    assert pdb["spec"]["minAvailable"] == 1  # type: ignore[index]
    assert pdb["spec"]["selector"] == {"matchLabels": {"app": "hello"}}  # type: ignore[index]
    ingress = _get((await sim.kubectl("get", "ingress", "web", "-o", "json")).json())
    rule = ingress["spec"]["rules"][0]  # type: ignore[index]
    assert rule["host"] == "example.com"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "hello", "port": {"number": 80}}
    crb = _get((await sim.kubectl("get", "clusterrolebinding", "crb", "-o", "json")).json())
    assert crb["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "g"}]
    priority = _get((await sim.kubectl("get", "priorityclass", "critical", "-o", "json")).json())
    assert (priority["value"], priority["description"]) == (1000, "batch work")  # type: ignore[index]
    sa = _get((await sim.kubectl("get", "serviceaccount", "robot", "-o", "json")).json())
    assert sa["metadata"]["name"] == "robot"  # type: ignore[index]

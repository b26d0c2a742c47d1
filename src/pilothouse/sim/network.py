"""What an app inside the cluster would see when it calls a Service or the API server.

Computed from the real objects — Services, Endpoints, NetworkPolicies, RBAC — so a fault that
the user fixes through the API (a policy opened, a role bound) stops happening.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pilothouse.sim.behaviour import ApiCall, Dependency
from pilothouse.sim.controllers.base import ControllerContext
from pilothouse.sim.selectors import LabelSelector
from pilothouse.sim.store import JsonObject

ListeningPorts = Callable[[JsonObject], set[int] | None]
CLUSTER_DNS = "10.96.0.10:53"


class Reachability:
    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        # Set by the kubelet: which ports a pod's containers actually listen on (None: unknown).
        self.listening_ports: ListeningPorts = lambda pod: None

    def _get(self, kind: str, group: str, namespace: str, name: str) -> JsonObject | None:
        return self.context.store.get(self.context.resource(group, kind).storage_key, namespace, name)

    def _list(self, kind: str, group: str, namespace: str | None) -> list[JsonObject]:
        return self.context.store.list(self.context.resource(group, kind).storage_key, namespace)

    def problem(self, source: JsonObject, source_ip: str, dependency: Dependency) -> str | None:
        """The connection error the source pod gets calling the dependency, or None if it works."""
        parts = dependency.service.split(".")
        name = parts[0]
        namespace = parts[1] if len(parts) > 1 else source["metadata"]["namespace"]
        service = self._get("Service", "", namespace, name)
        if service is None:
            return f"dial tcp: lookup {dependency.service} on {CLUSTER_DNS}: no such host"
        cluster_ip = service["spec"].get("clusterIP", "")
        address = f"{cluster_ip}:{dependency.port}"
        port = next((p for p in service["spec"].get("ports") or [] if p.get("port") == dependency.port), None)
        if port is None:
            return f"dial tcp {address}: connect: connection refused"
        backends = self._ready_backends(service, port)
        if not backends:
            return f"dial tcp {address}: connect: connection refused"
        reachable = [(pod, target) for pod, target in backends if self._allowed(source, pod, target)]
        if not reachable:
            return f"dial tcp {address}: i/o timeout"
        if not any(self._listens(pod, target) for pod, target in reachable):
            return f"dial tcp {address}: connect: connection refused"
        return None

    def _ready_backends(self, service: JsonObject, port: JsonObject) -> list[tuple[JsonObject, int]]:
        namespace = service["metadata"]["namespace"]
        endpoints = self._get("Endpoints", "", namespace, service["metadata"]["name"])
        pods_by_name: dict[str, JsonObject] = {}
        result = []
        for subset in (endpoints or {}).get("subsets") or []:
            for address in subset.get("addresses") or []:
                pod_name = str((address.get("targetRef") or {}).get("name", ""))
                pod = pods_by_name.get(pod_name) or self._get("Pod", "", namespace, pod_name)
                if pod is None:
                    continue
                pods_by_name[pod_name] = pod
                for endpoint_port in subset.get("ports") or []:
                    if endpoint_port.get("name", "") == port.get("name", "") or len(subset.get("ports")) == 1:
                        result.append((pod, int(endpoint_port["port"])))
        return result

    def _listens(self, pod: JsonObject, port: int) -> bool:
        ports = self.listening_ports(pod)
        return ports is None or port in ports

    # NetworkPolicy -------------------------------------------------------------------------------

    def _allowed(self, source: JsonObject, target: JsonObject, port: int) -> bool:
        return self._direction_allows(
            target, source, port, "Ingress", "ingress", "from"
        ) and self._direction_allows(source, target, port, "Egress", "egress", "to")

    def _direction_allows(
        self,
        subject: JsonObject,
        peer: JsonObject,
        port: int,
        policy_type: str,
        rules_field: str,
        peers_field: str,
    ) -> bool:
        namespace = subject["metadata"]["namespace"]
        isolating = [
            p
            for p in self._list("NetworkPolicy", "networking.k8s.io", namespace)
            if policy_type in _policy_types(p)
            and LabelSelector.from_dict(p["spec"].get("podSelector") or {}).matches(
                subject["metadata"].get("labels")
            )
        ]
        if not isolating:
            return True
        return any(
            self._rule_allows(rule, namespace, peer, port, peers_field)
            for policy in isolating
            for rule in policy["spec"].get(rules_field) or []
        )

    def _rule_allows(
        self, rule: JsonObject, policy_namespace: str, peer: JsonObject, port: int, peers_field: str
    ) -> bool:
        ports = rule.get("ports")
        if ports and not any(
            p.get("port") in (None, port) or _named_port(peer, p.get("port")) == port for p in ports
        ):
            return False
        peers = rule.get(peers_field)
        if not peers:
            return True
        return any(self._peer_matches(selector, policy_namespace, peer) for selector in peers)

    def _peer_matches(self, selector: JsonObject, policy_namespace: str, peer: JsonObject) -> bool:
        if "ipBlock" in selector:
            return False  # pod traffic is matched by selectors here, not by CIDR
        peer_namespace = peer["metadata"]["namespace"]
        if "namespaceSelector" in selector:
            ns = self._get("Namespace", "", "", peer_namespace)
            if not LabelSelector.from_dict(selector["namespaceSelector"]).matches(
                (ns or {}).get("metadata", {}).get("labels")
            ):
                return False
        elif peer_namespace != policy_namespace:
            return False
        pod_selector = selector.get("podSelector")
        return pod_selector is None or LabelSelector.from_dict(pod_selector).matches(
            peer["metadata"].get("labels")
        )

    # RBAC ------------------------------------------------------------------------------------------

    def rbac_denial(self, pod: JsonObject, call: ApiCall) -> str | None:
        namespace = pod["metadata"]["namespace"]
        account = pod["spec"].get("serviceAccountName") or "default"
        user = f"system:serviceaccount:{namespace}:{account}"
        if self._rbac_allows(namespace, account, call):
            return None
        path = (
            f"/api/v1/namespaces/{namespace}/{call.resource}"
            if not call.group
            else f"/apis/{call.group}/v1/namespaces/{namespace}/{call.resource}"
        )
        qualified = f"{call.resource}.{call.group}" if call.group else call.resource
        return (
            f"GET https://10.96.0.1:443{path}: 403 Forbidden: {qualified} is forbidden: "
            f'User "{user}" cannot {call.verb} resource "{call.resource}" in API group "{call.group}" '
            f'in the namespace "{namespace}"'
        )

    def _rbac_allows(self, namespace: str, account: str, call: ApiCall) -> bool:
        bindings = self._list("RoleBinding", "rbac.authorization.k8s.io", namespace)
        bindings += self._list("ClusterRoleBinding", "rbac.authorization.k8s.io", None)
        for binding in bindings:
            if not any(_subject_is(s, namespace, account) for s in binding.get("subjects") or []):
                continue
            ref = binding.get("roleRef") or {}
            role_kind = ref.get("kind")
            role = (
                self._get(
                    role_kind,
                    "rbac.authorization.k8s.io",
                    namespace if role_kind == "Role" else "",
                    ref.get("name", ""),
                )
                if role_kind in ("Role", "ClusterRole")
                else None
            )
            if role and any(_rule_permits(rule, call) for rule in role.get("rules") or []):
                return True
        return False


def _subject_is(subject: JsonObject, namespace: str, account: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        return bool(name == account and subject.get("namespace", namespace) == namespace)
    if kind == "Group":
        return name in (
            "system:serviceaccounts",
            f"system:serviceaccounts:{namespace}",
            "system:authenticated",
        )
    return False


def _rule_permits(rule: JsonObject, call: ApiCall) -> bool:
    def has(values: Any, wanted: str) -> bool:
        return isinstance(values, list) and ("*" in values or wanted in values)

    return (
        has(rule.get("apiGroups"), call.group)
        and has(rule.get("resources"), call.resource)
        and has(rule.get("verbs"), call.verb)
    )


def _policy_types(policy: JsonObject) -> list[str]:
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _named_port(pod: JsonObject, port: Any) -> int | None:
    if not isinstance(port, str):
        return None
    for container in pod["spec"].get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == port:
                return int(declared["containerPort"])
    return None

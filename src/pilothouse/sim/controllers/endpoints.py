"""Endpoints and EndpointSlices for services with a selector, from the pods they select.

Two controllers, as in kube-controller-manager: the endpoints controller writes the core/v1
Endpoints object named after the Service (ready pods under `addresses`, unready ones under
`notReadyAddresses`), and the endpointslice controller writes discovery.k8s.io/v1 slices with
ready/serving/terminating conditions. Services without a selector are left alone: their
Endpoints are the user's. Both write only when the result differs from what is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pilothouse.sim.controllers.base import ControllerContext, KeyMapper, controller_ref, key_of, split_key
from pilothouse.sim.objects import DeleteOptions
from pilothouse.sim.podutil import is_pod_ready, is_pod_terminal
from pilothouse.sim.resources import ResourceType
from pilothouse.sim.selectors import LabelSelector, selector_from_service
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, StorageKey, StoreEvent, clone

TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
HEADLESS = "service.kubernetes.io/headless"
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
SLICE_CONTROLLER = "endpointslice-controller.k8s.io"
ZONE_LABEL = "topology.kubernetes.io/zone"
MAX_ENDPOINTS_PER_SLICE = 100


def find_port(pod: JsonObject, service_port: JsonObject) -> int | None:
    """The container port a service port's targetPort means for this pod (podutil.FindPort)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    protocol = service_port.get("protocol", "TCP")
    for container in pod.get("spec", {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and port.get("protocol", "TCP") == protocol:
                return int(port["containerPort"])
    return None


def endpoint_ports(service: JsonObject, pod: JsonObject) -> list[JsonObject]:
    """The service's ports resolved for one pod; ports the pod cannot serve are left out."""
    ports = []
    for service_port in service["spec"].get("ports") or []:
        number = find_port(pod, service_port)
        if number is None:
            continue
        port: JsonObject = {
            "name": service_port.get("name", ""),
            "port": number,
            "protocol": service_port.get("protocol", "TCP"),
        }
        if service_port.get("appProtocol"):
            port["appProtocol"] = service_port["appProtocol"]
        ports.append(port)
    return sorted(ports, key=lambda p: (p["name"], p["port"], p["protocol"]))


def _core_port(port: JsonObject) -> JsonObject:
    """core/v1 EndpointPort omits an empty name, where discovery/v1 keeps it as ""."""
    return {key: value for key, value in port.items() if not (key == "name" and value == "")}


def _is_headless(service: JsonObject) -> bool:
    return bool(service["spec"].get("clusterIP") == "None")


def _target_ref(pod: JsonObject) -> JsonObject:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}


class _ServicePods:
    """Shared by both controllers: which services a pod change concerns, which pods a service selects."""

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.services = context.resource("", "Service")
        self.pods = context.resource("", "Pod")

    def services_of_pod(self, event: StoreEvent) -> Iterable[str]:
        namespace = event.object["metadata"]["namespace"]
        label_sets = [event.object["metadata"].get("labels")]
        if event.previous is not None:
            label_sets.append(event.previous["metadata"].get("labels"))
        for service in self.context.store.list(self.services.storage_key, namespace):
            selector = selector_from_service(service["spec"].get("selector"))
            if any(selector.matches(labels) for labels in label_sets):
                yield key_of(service)

    def selected_pods(self, service: JsonObject, include_terminating: bool) -> list[JsonObject]:
        """Pods that belong in the service's endpoints (endpointsliceutil.ShouldPodBeInEndpoints)."""
        selector = selector_from_service(service["spec"].get("selector"))
        return [
            pod
            for pod in self.context.list(self.pods, service["metadata"]["namespace"], selector)
            if not is_pod_terminal(pod)
            and (pod.get("status") or {}).get("podIP")
            and (include_terminating or not pod["metadata"].get("deletionTimestamp"))
        ]

    def watches(self) -> dict[StorageKey, KeyMapper]:
        def own(event: StoreEvent) -> Iterable[str]:
            return (key_of(event.object),)

        return {self.services.storage_key: own, self.pods.storage_key: self.services_of_pod}


def _managed(service: JsonObject | None) -> bool:
    return bool(
        service is not None
        and service["spec"].get("selector")
        and service["spec"].get("type") != "ExternalName"
    )


class EndpointsController:
    name = "endpoints"

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.lookup = _ServicePods(context)
        self.endpoints = context.resource("", "Endpoints")

    def watches(self) -> dict[StorageKey, KeyMapper]:
        return self.lookup.watches()

    def reconcile(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.context.get(self.lookup.services, key)
        current = self.context.get(self.endpoints, key)
        if service is None:
            if current is not None:
                _delete(self.context, self.endpoints, namespace, name)
            return
        if not service["spec"].get("selector"):
            return  # user-managed Endpoints
        subsets = self._subsets(service)
        labels = dict(service["metadata"].get("labels") or {})
        labels[SKIP_MIRROR] = "true"
        if _is_headless(service):
            labels[HEADLESS] = ""
        if (
            current is not None
            and current.get("subsets", []) == subsets
            and current["metadata"].get("labels") == labels
        ):
            return
        desired: JsonObject = (
            clone(current)
            if current is not None
            else {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": namespace}}
        )
        desired["metadata"]["labels"] = labels
        desired["metadata"].setdefault("annotations", {})[TRIGGER_TIME] = self.context.objects.now()
        if subsets:
            desired["subsets"] = subsets
        else:
            desired.pop("subsets", None)
        if current is None:
            self.context.objects.create_owned(self.endpoints, desired)
        else:
            self.context.objects.save(self.endpoints, desired)

    def _subsets(self, service: JsonObject) -> list[JsonObject]:
        """Addresses grouped by identical port lists, as endpoints.RepackSubsets packs them."""
        publish_not_ready = bool(service["spec"].get("publishNotReadyAddresses"))
        groups: dict[str, dict[str, Any]] = {}
        for pod in self.lookup.selected_pods(service, include_terminating=False):
            ports = endpoint_ports(service, pod)
            if not ports and not (_is_headless(service) and not service["spec"].get("ports")):
                continue
            address: JsonObject = {"ip": pod["status"]["podIP"], "targetRef": _target_ref(pod)}
            if pod["spec"].get("nodeName"):
                address["nodeName"] = pod["spec"]["nodeName"]
            if pod["spec"].get("hostname") and pod["spec"].get("subdomain") == service["metadata"]["name"]:
                address["hostname"] = pod["spec"]["hostname"]
            group = groups.setdefault(repr(ports), {"ports": ports, "addresses": [], "notReadyAddresses": []})
            ready = publish_not_ready or is_pod_ready(pod)
            group["addresses" if ready else "notReadyAddresses"].append(address)
        subsets = []
        for _, group in sorted(groups.items()):
            subset: JsonObject = {}
            for field in ("addresses", "notReadyAddresses"):
                if group[field]:
                    subset[field] = sorted(group[field], key=lambda a: (a["ip"], a["targetRef"]["uid"]))
            if group["ports"]:
                subset["ports"] = [_core_port(port) for port in group["ports"]]
            subsets.append(subset)
        return subsets


class EndpointSliceController:
    name = "endpointslice"

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.lookup = _ServicePods(context)
        self.slices = context.resource("discovery.k8s.io", "EndpointSlice")
        self.nodes = context.resource("", "Node")

    def watches(self) -> dict[StorageKey, KeyMapper]:
        return self.lookup.watches()

    def reconcile(self, key: str) -> None:
        service = self.context.get(self.lookup.services, key)
        if not _managed(service):
            # A deleted service's slices go with it through their owner reference (garbage collector).
            return
        assert service is not None
        meta = service["metadata"]
        mine = LabelSelector.from_labels({SERVICE_NAME: meta["name"], MANAGED_BY: SLICE_CONTROLLER})
        existing = self.context.list(self.slices, meta["namespace"], mine)
        desired = self._desired_slices(service)
        unused = sorted(existing, key=lambda s: str(s["metadata"]["name"]))
        for ports, endpoints in desired:
            match = next((s for s in unused if s.get("ports") == ports), unused[0] if unused else None)
            if match is not None:
                unused.remove(match)
            self._write(service, match, ports, endpoints)
        for stale in unused:
            _delete(self.context, self.slices, stale["metadata"]["namespace"], stale["metadata"]["name"])

    def _desired_slices(
        self, service: JsonObject
    ) -> list[tuple[list[JsonObject] | None, list[JsonObject] | None]]:
        """(ports, endpoints) per slice; one placeholder slice when nothing is selected."""
        by_ports: dict[str, tuple[list[JsonObject], list[JsonObject]]] = {}
        for pod in self.lookup.selected_pods(service, include_terminating=True):
            ports = endpoint_ports(service, pod)
            by_ports.setdefault(repr(ports), (ports, []))[1].append(self._endpoint(service, pod))
        if not by_ports:
            return [(None, None)]
        result: list[tuple[list[JsonObject] | None, list[JsonObject] | None]] = []
        for _, (ports, endpoints) in sorted(by_ports.items()):
            endpoints.sort(key=lambda e: (e["addresses"][0], e["targetRef"]["uid"]))
            for start in range(0, len(endpoints), MAX_ENDPOINTS_PER_SLICE):
                result.append((ports, endpoints[start : start + MAX_ENDPOINTS_PER_SLICE]))
        return result

    def _endpoint(self, service: JsonObject, pod: JsonObject) -> JsonObject:
        publish_not_ready = bool(service["spec"].get("publishNotReadyAddresses"))
        terminating = bool(pod["metadata"].get("deletionTimestamp"))
        serving = is_pod_ready(pod)
        # A terminating pod is never "ready" unless the service publishes unready addresses.
        ready = publish_not_ready or (serving and not terminating)
        endpoint: JsonObject = {
            "addresses": [pod["status"]["podIP"]],
            "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
            "targetRef": _target_ref(pod),
        }
        node_name = pod["spec"].get("nodeName")
        if node_name:
            endpoint["nodeName"] = node_name
            node = self.context.store.get(self.nodes.storage_key, "", node_name)
            zone = (node or {}).get("metadata", {}).get("labels", {}).get(ZONE_LABEL)
            if zone:
                endpoint["zone"] = zone
        if pod["spec"].get("hostname") and pod["spec"].get("subdomain") == service["metadata"]["name"]:
            endpoint["hostname"] = pod["spec"]["hostname"]
        return endpoint

    def _labels(self, service: JsonObject) -> dict[str, str]:
        labels = dict(service["metadata"].get("labels") or {})
        labels[SERVICE_NAME] = service["metadata"]["name"]
        labels[MANAGED_BY] = SLICE_CONTROLLER
        if _is_headless(service):
            labels[HEADLESS] = ""
        return labels

    def _write(
        self,
        service: JsonObject,
        current: JsonObject | None,
        ports: list[JsonObject] | None,
        endpoints: list[JsonObject] | None,
    ) -> None:
        labels = self._labels(service)
        if (
            current is not None
            and current.get("ports") == ports
            and current.get("endpoints") == endpoints
            and current["metadata"].get("labels") == labels
        ):
            return
        meta = service["metadata"]
        desired: JsonObject = (
            clone(current)
            if current is not None
            else {
                "metadata": {
                    "generateName": f"{meta['name']}-",
                    "namespace": meta["namespace"],
                    "ownerReferences": [controller_ref(service)],
                },
                "addressType": "IPv4",
            }
        )
        desired["metadata"]["labels"] = labels
        desired["metadata"].setdefault("annotations", {})[TRIGGER_TIME] = self.context.objects.now()
        desired["ports"] = ports
        desired["endpoints"] = endpoints
        if current is None:
            self.context.objects.create_owned(self.slices, desired)
        else:
            self.context.objects.save(self.slices, desired)


def _delete(context: ControllerContext, resource: ResourceType, namespace: str, name: str) -> None:
    try:
        context.objects.delete(resource, namespace, name, DeleteOptions())
    except StatusError as err:
        if err.code != 404:
            raise

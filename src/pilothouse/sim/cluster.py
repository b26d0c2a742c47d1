"""`SimCluster`: the simulated cluster assembled — store, controllers, kubelet, API server.

Usable in-process (tests, `pilothouse demo`) or served over HTTP(S) by `pilothouse sim`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pilothouse.sim.controllers.base import Controller, ControllerContext, KeyMapper, OwnerIndex
from pilothouse.sim.engine import Engine, SimClock
from pilothouse.sim.events import EventRecorder
from pilothouse.sim.objects import ObjectService
from pilothouse.sim.resources import ResourceRegistry, ResourceType
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, ObjectStore, StorageKey, StoreEvent

ControllerFactory = Callable[[ControllerContext], Controller]
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class SimCluster:
    """One simulated cluster. `manual_clock=True` freezes time until `advance()` (tests)."""

    def __init__(
        self,
        *,
        seed: int = 0,
        speed: float = 1.0,
        manual_clock: bool = False,
        start_time: float | None = None,
        data_dir: Path | None = None,
        controllers: Sequence[ControllerFactory] | None = None,
        with_kubelet: bool = True,
    ) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not secrets
        self.clock = SimClock(speed=speed, start=start_time, manual=manual_clock)
        self.engine = Engine(self.clock)
        self.registry = ResourceRegistry.with_builtins()
        self.store = ObjectStore()
        self.objects = ObjectService(self.registry, self.store, self.clock, self.rng)
        self.events = EventRecorder(self.objects, self.resource("", "Event"))
        self.owners = OwnerIndex()
        self.store.add_listener(self.owners.on_event)
        self.context = ControllerContext(
            self.registry,
            self.store,
            self.objects,
            self.engine,
            self.clock,
            self.events,
            self.rng,
            self.owners,
        )
        self._watch_map: dict[StorageKey, list[tuple[str, KeyMapper]]] = {}
        self.store.add_listener(self._dispatch)
        self.data_dir = data_dir
        self.controllers: list[Controller] = []
        self.kubelet: Any = None
        if with_kubelet:
            from pilothouse.sim.kubelet import Kubelet

            self.kubelet = Kubelet(self.context, data_dir)
            self.context.pod_usage_source = self.kubelet.metrics
            self.add_controller(self.kubelet)
        factories = default_controllers() if controllers is None else controllers
        for factory in factories:
            self.add_controller(factory(self.context))
        self._service_ips = ServiceAddresses()
        self.objects.admission.append(self._service_ips.admit)
        for namespace in SYSTEM_NAMESPACES:
            self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
            }
        )
        self._task: asyncio.Task[None] | None = None

    def resource(self, group: str, kind: str) -> ResourceType:
        resource = self.registry.by_kind(group, kind)
        if resource is None:
            raise KeyError(f"{kind}.{group} is not served")
        return resource

    def add_controller(self, controller: Controller) -> None:
        self.controllers.append(controller)
        self.engine.register(controller.name, controller.reconcile)
        for storage_key, mapper in controller.watches().items():
            self._watch_map.setdefault(storage_key, []).append((controller.name, mapper))

    def _dispatch(self, key: StorageKey, event: StoreEvent) -> None:
        for controller_name, mapper in self._watch_map.get(key, ()):
            for work_key in mapper(event):
                self.engine.enqueue(controller_name, work_key)

    # Populating --------------------------------------------------------------------------------

    def apply(self, *manifests: JsonObject) -> list[JsonObject]:
        """Create objects as a client would (defaulted, validated, admitted); returns them stored."""
        created = []
        for manifest in manifests:
            api_version, kind = manifest.get("apiVersion", ""), manifest.get("kind", "")
            resource = self.registry.by_api_version(api_version, kind)
            if resource is None:
                raise StatusError(404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"')
            namespace = (manifest.get("metadata") or {}).get("namespace") if resource.namespaced else None
            created.append(self.objects.create(resource, manifest, namespace=namespace))
        self.engine.drain()
        return created

    # Running -------------------------------------------------------------------------------------

    def advance(self, seconds: float, step: float | None = None) -> None:
        """Manual clock: let `seconds` of simulated time pass, firing timers in order."""
        if step is None:
            self.engine.advance(seconds)
            return
        remaining = seconds
        while remaining > 0:
            self.engine.advance(min(step, remaining))
            remaining -= step

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.engine.run(), name="sim-engine")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.store.close_watchers()
        if self.kubelet is not None:
            await self.kubelet.shutdown()

    def objects_of(self, group: str, kind: str, namespace: str | None = None) -> list[JsonObject]:
        return self.store.list(self.resource(group, kind).storage_key, namespace)

    def get(self, group: str, kind: str, namespace: str, name: str) -> JsonObject | None:
        return self.store.get(self.resource(group, kind).storage_key, namespace, name)

    def events_for(self, obj: JsonObject) -> list[JsonObject]:
        uid = obj["metadata"]["uid"]
        return [e for e in self.objects_of("", "Event") if e["involvedObject"].get("uid") == uid]


class ServiceAddresses:
    """Allocates cluster IPs and node ports at Service creation, as the API server does."""

    def __init__(self) -> None:
        self._next_ip = 0  # the first address, 10.96.0.1, goes to the `kubernetes` Service
        self._next_node_port = 30000

    def admit(self, resource: ResourceType, obj: JsonObject) -> None:
        if resource.kind != "Service" or resource.group:
            return
        spec = obj.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            return
        if not spec.get("clusterIP"):
            spec["clusterIP"] = f"10.96.{self._next_ip // 250}.{self._next_ip % 250 + 1}"
            self._next_ip += 1
        if spec["clusterIP"] != "None":
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            for port in spec.get("ports") or []:
                if not port.get("nodePort"):
                    port["nodePort"] = self._next_node_port
                    self._next_node_port += 1


def default_controllers() -> Iterable[ControllerFactory]:
    from pilothouse.sim.controllers import DEFAULT_CONTROLLERS

    return DEFAULT_CONTROLLERS

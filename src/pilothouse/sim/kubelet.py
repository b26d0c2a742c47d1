"""The kubelet: runs the containers of pods bound to nodes, as behaviours say they behave.

Each container moves through the states a real kubelet reports (image pull, config errors,
create, run, probes, exit, restart with back-off, OOM kill). Because behaviours are fixed, the
kubelet computes when the next transition happens and sets one timer for it: a healthy idle pod
costs nothing until something changes.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pilothouse.sim import status
from pilothouse.sim.behaviour import (
    ApiCall,
    Behaviours,
    ContainerBehaviour,
    Dependency,
    ImageRegistry,
    normalise_image,
)
from pilothouse.sim.controllers.base import ControllerContext, KeyMapper, key_of, own_key
from pilothouse.sim.events import NORMAL, WARNING
from pilothouse.sim.kubelet_logs import LogBook, LogKey, LogRequest, container_not_found
from pilothouse.sim.network import Reachability
from pilothouse.sim.objects import parse_time, rfc3339
from pilothouse.sim.store import JsonObject, StorageKey, StoreEvent, clone
from pilothouse.sim.validation import parse_quantity

COMPONENT = "kubelet"
CRASH_BACKOFF_INITIAL, CRASH_BACKOFF_MAX = 10.0, 300.0
BACKOFF_RESET_AFTER = 600.0
CONFIG_RETRY_SECONDS = 10.0
SHUTDOWN_SECONDS = 1.0
NODE_KEY_PREFIX = "node:"  # work keys for node-level faults; pod keys always contain a "/"
PEER_RETRY_SECONDS = 10.0  # how often an app retries (and logs) a peer it cannot reach
PEER_CRASH_SECONDS = 2.0  # how long an app that exits on an unreachable peer tries first


def backoff_delay(failures: int) -> float:
    """Kubernetes' container back-off: 10 s doubling to 5 min, for the n-th consecutive failure."""
    return float(min(CRASH_BACKOFF_MAX, CRASH_BACKOFF_INITIAL * 2 ** max(0, failures - 1)))


def format_backoff(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


@dataclass
class ProbePlan:
    """When a probe first succeeds and when its failures reach the threshold (None: never)."""

    first_probe: float
    period: float
    success_at: float | None
    failure_at: float | None

    @classmethod
    def compute(cls, probe: JsonObject, start: float, passes_from: float | None) -> ProbePlan:
        first = start + float(probe.get("initialDelaySeconds", 0))
        period = float(probe.get("periodSeconds", 10))
        threshold = int(probe.get("failureThreshold", 3))
        if passes_from is None:
            return cls(first, period, None, first + (threshold - 1) * period)
        failures_before = max(0, math.ceil((passes_from - first) / period))
        if failures_before >= threshold:
            return cls(first, period, None, first + (threshold - 1) * period)
        return cls(first, period, first + failures_before * period, None)

    def failing_at(self, when: float) -> bool:
        if when < self.first_probe:
            return False
        return self.success_at is None or when < self.success_at


@dataclass
class ContainerRuntime:
    name: str
    init: bool
    spec: JsonObject
    behaviour: ContainerBehaviour
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int = 0
    restart_count: int = 0
    consecutive_failures: int = 0
    last_terminated: JsonObject | None = None
    pull_failures: int = 0
    ready_at: float | None = None
    probes: dict[str, ProbePlan] = field(default_factory=dict)
    timers: dict[str, float] = field(default_factory=dict)
    container_id: str = ""
    planned_exit: tuple[int, str] = (0, "Completed")
    # What the app could not reach (a Service, the API server) when it last looked, with the
    # error it logs; None until it first connects, startupSeconds into the run.
    peer_errors: dict[Dependency | ApiCall, str] | None = None

    @property
    def log_key_suffix(self) -> tuple[str, int]:
        return (self.name, self.restart_count)


@dataclass
class PodRuntime:
    uid: str
    ip: str
    sandbox_started: float
    init: list[ContainerRuntime]
    main: list[ContainerRuntime]
    killing_until: float | None = None
    mount_error: str | None = None
    mount_retry_at: float | None = None

    def containers(self) -> list[ContainerRuntime]:
        return self.init + self.main


class Kubelet:
    """One kubelet for every node (the sim has no per-node processes)."""

    name = "kubelet"

    def __init__(self, context: ControllerContext, data_dir: Path | None = None) -> None:
        self.context = context
        self.pods = context.resource("", "Pod")
        self.nodes = context.resource("", "Node")
        self.behaviours = Behaviours()
        self.registry = ImageRegistry()
        self.logs = LogBook()
        self.network = Reachability(context)
        self.network.listening_ports = self._listening_ports
        self.metrics = Metrics(self)
        self._runtimes: dict[str, PodRuntime] = {}
        self._node_images: dict[str, set[str]] = {}
        self._next_ip: dict[str, int] = {}
        self._pods_with_dependencies: set[str] = set()
        self._temp_dir: tempfile.TemporaryDirectory[str] | None = None
        self._data_dir = data_dir

    # Controller contract -----------------------------------------------------------------------

    def watches(self) -> dict[StorageKey, KeyMapper]:
        def dependents(event: StoreEvent) -> Iterable[str]:
            return sorted(self._pods_with_dependencies)

        def pods_in_namespace(event: StoreEvent) -> Iterable[str]:
            namespace = event.object["metadata"].get("namespace", "")
            return [
                key
                for key, runtime in self._runtime_keys()
                if key.startswith(f"{namespace}/") and runtime.mount_error
            ]

        watched: dict[StorageKey, KeyMapper] = {self.pods.storage_key: own_key}
        for kind, group in (
            ("NetworkPolicy", "networking.k8s.io"),
            ("Endpoints", ""),
            ("Role", "rbac.authorization.k8s.io"),
            ("RoleBinding", "rbac.authorization.k8s.io"),
            ("ClusterRole", "rbac.authorization.k8s.io"),
            ("ClusterRoleBinding", "rbac.authorization.k8s.io"),
        ):
            watched[self.context.resource(group, kind).storage_key] = dependents
        for kind in ("ConfigMap", "Secret"):
            watched[self.context.resource("", kind).storage_key] = pods_in_namespace
        return watched

    def _runtime_keys(self) -> list[tuple[str, PodRuntime]]:
        result = []
        for pod in self.context.store.iter(self.pods.storage_key):
            runtime = self._runtimes.get(pod["metadata"]["uid"])
            if runtime is not None:
                result.append((key_of(pod), runtime))
        return result

    def configure(self, behaviours: Behaviours, registry: ImageRegistry) -> None:
        self.behaviours = behaviours
        self.registry = registry

    def schedule_node_failure(self, node_name: str, when: float) -> None:
        """Scenario fault: this node's kubelet stops posting status at `when`."""
        self.context.engine.call_at(when, self.name, f"{NODE_KEY_PREFIX}{node_name}")

    def _fail_node(self, node_name: str) -> None:
        from pilothouse.sim.scenario import mark_node_not_ready

        node = self.context.store.get(self.nodes.storage_key, "", node_name)
        if node is not None and _node_ready(node):
            self.context.objects.save(self.nodes, mark_node_not_ready(node, self.context.clock.now()))

    def reconcile(self, key: str) -> None:
        if key.startswith(NODE_KEY_PREFIX):
            self._fail_node(key.removeprefix(NODE_KEY_PREFIX))
            return
        pod = self.context.get(self.pods, key)
        if pod is None:
            return
        node_name = pod["spec"].get("nodeName")
        if not node_name:
            return
        node = self.context.store.get(self.nodes.storage_key, "", node_name)
        if node is None or not _node_ready(node):
            return  # no kubelet is running there to act
        now = self.context.clock.now()
        runtime = self._runtimes.get(pod["metadata"]["uid"])
        if runtime is None:
            if pod["metadata"].get("deletionTimestamp"):
                self.context.objects.finish_deletion(self.pods, pod)
                return
            if pod["status"].get("phase") in ("Succeeded", "Failed"):
                return
            runtime = self._start_pod(pod, node_name, now)
        if pod["metadata"].get("deletionTimestamp"):
            self._stop_pod(pod, runtime, now)
            return
        self._sync(pod, runtime, now)

    # Pod lifecycle -------------------------------------------------------------------------------

    def _start_pod(self, pod: JsonObject, node_name: str, now: float) -> PodRuntime:
        spec = pod["spec"]
        counter = self._next_ip.get(node_name, 1) + 1
        self._next_ip[node_name] = counter
        node_index = sorted(
            n["metadata"]["name"] for n in self.context.store.iter(self.nodes.storage_key)
        ).index(node_name)
        ip = f"10.244.{node_index}.{counter}" if counter < 255 else f"10.245.{node_index}.{counter % 250}"
        if spec.get("hostNetwork"):
            ip = _node_ip(self.context.store.get(self.nodes.storage_key, "", node_name) or {})

        # App containers of a pod with init containers wait as PodInitializing until those succeed.
        waiting = "PodInitializing" if spec.get("initContainers") else "ContainerCreating"

        def runtimes(containers: list[JsonObject], init: bool) -> list[ContainerRuntime]:
            return [
                ContainerRuntime(
                    c["name"],
                    init,
                    c,
                    self.behaviours.for_container(pod, c["name"]),
                    reason="ContainerCreating" if init else waiting,
                )
                for c in containers
            ]

        runtime = PodRuntime(
            pod["metadata"]["uid"],
            ip,
            now,
            runtimes(spec.get("initContainers") or [], True),
            runtimes(spec.get("containers") or [], False),
        )
        if any(c.behaviour.dependencies or c.behaviour.api_calls for c in runtime.containers()):
            self._pods_with_dependencies.add(key_of(pod))
        self._runtimes[runtime.uid] = runtime
        first = runtime.init[0] if runtime.init else None
        for container in [first] if first else runtime.main:
            container.timers["start"] = now
        return runtime

    def _stop_pod(self, pod: JsonObject, runtime: PodRuntime, now: float) -> None:
        if runtime.killing_until is None:
            grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
            runtime.killing_until = now + min(grace, SHUTDOWN_SECONDS)
            for container in runtime.containers():
                if container.state == "running":
                    self._event(pod, NORMAL, "Killing", f"Stopping container {container.name}", container)
                container.timers.clear()
            self.context.engine.call_at(runtime.killing_until, self.name, key_of(pod))
            return
        if now >= runtime.killing_until:
            for container in runtime.containers():
                self.logs.end(self._log_key(runtime, container), now)
            del self._runtimes[runtime.uid]
            self._pods_with_dependencies.discard(key_of(pod))
            self.logs.forget_pod(runtime.uid)
            self.context.objects.finish_deletion(self.pods, pod)

    def _sync(self, pod: JsonObject, runtime: PodRuntime, now: float) -> None:
        self._check_mounts(pod, runtime, now)
        if runtime.mount_error is None:
            for container in runtime.containers():
                self._run_due_timers(pod, runtime, container, now)
            self._advance_init_sequence(runtime, now)
            for container in runtime.main:
                self._run_due_timers(pod, runtime, container, now)
            for container in runtime.containers():
                if container.state == "running" and container.peer_errors is not None:
                    self._check_peers(pod, runtime, container, now)
        self._write_status(pod, runtime, now)
        due = [t for c in runtime.containers() for t in c.timers.values()]
        if runtime.mount_error:
            # Nothing starts until the volumes mount: only the mount retry is due (once per period).
            due = []
            if runtime.mount_retry_at is None or runtime.mount_retry_at <= now:
                runtime.mount_retry_at = now + CONFIG_RETRY_SECONDS
                due.append(runtime.mount_retry_at)
        if due:
            self.context.engine.call_at(max(min(due), now), self.name, key_of(pod))

    def _advance_init_sequence(self, runtime: PodRuntime, now: float) -> None:
        """Init containers run one at a time; app containers start when all have succeeded."""
        for container in runtime.init:
            if container.state == "terminated" and container.exit_code == 0:
                continue
            if (
                container.state == "waiting"
                and not container.timers
                and container.reason == "ContainerCreating"
            ):
                container.timers["start"] = now
            return
        for container in runtime.main:
            if (
                container.state == "waiting"
                and not container.timers
                and container.reason in ("ContainerCreating", "PodInitializing")
            ):
                container.timers["start"] = now

    def _check_mounts(self, pod: JsonObject, runtime: PodRuntime, now: float) -> None:
        namespace = pod["metadata"]["namespace"]
        problem = None
        for volume in pod["spec"].get("volumes") or []:
            for source_kind, field_name, kind in (
                ("configMap", "name", "ConfigMap"),
                ("secret", "secretName", "Secret"),
            ):
                source = volume.get(source_kind)
                if not source or source.get("optional"):
                    continue
                name = source.get(field_name, "")
                resource = self.context.resource("", kind)
                if self.context.store.get(resource.storage_key, namespace, name) is None:
                    problem = (
                        f'MountVolume.SetUp failed for volume "{volume["name"]}" : '
                        f'{kind.lower()} "{name}" not found'
                    )
        retrying = runtime.mount_retry_at is None or runtime.mount_retry_at <= now
        if problem and (problem != runtime.mount_error or retrying):
            self._event(pod, WARNING, "FailedMount", problem, None)
        runtime.mount_error = problem

    # Container state machine -------------------------------------------------------------------

    def _run_due_timers(
        self, pod: JsonObject, runtime: PodRuntime, container: ContainerRuntime, now: float
    ) -> None:
        while container.timers:
            action, due = min(container.timers.items(), key=lambda item: item[1])
            if due > now:
                return
            del container.timers[action]
            getattr(self, f"_on_{action.replace('-', '_')}")(pod, runtime, container, due)

    def _on_start(
        self, pod: JsonObject, runtime: PodRuntime, container: ContainerRuntime, when: float
    ) -> None:
        image = container.spec.get("image", "")
        if normalise_image(image) is None:
            container.reason, container.message = (
                "InvalidImageName",
                f'Failed to apply default image tag "{image}": '
                f'couldn\'t parse image name "{image}": invalid reference format',
            )
            self._event(pod, WARNING, "InspectFailed", container.message, container)
            self._event(pod, WARNING, "Failed", "Error: InvalidImageName", container)
            return
        node = pod["spec"]["nodeName"]
        present = normalise_image(image) in self._node_images.get(node, set())
        policy = container.spec.get("imagePullPolicy", "IfNotPresent")
        if policy == "Never" and not present:
            container.reason = "ErrImageNeverPull"
            container.message = f'Container image "{image}" is not present with pull policy of Never'
            self._event(pod, WARNING, "ErrImageNeverPull", container.message, container)
            return
        if policy == "Always" or not present:
            self._event(pod, NORMAL, "Pulling", f'Pulling image "{image}"', container)
            container.timers["pulled"] = when + self.registry.pull_seconds
            return
        self._event(pod, NORMAL, "Pulled", f'Container image "{image}" already present on machine', container)
        container.timers["create"] = when

    def _on_pulled(
        self, pod: JsonObject, runtime: PodRuntime, container: ContainerRuntime, when: float
    ) -> None:
        image = container.spec.get("image", "")
        secrets = {ref.get("name", "") for ref in pod["spec"].get("imagePullSecrets") or []}
        secret_resource = self.context.resource("", "Secret")
        secrets = {
            s
            for s in secrets
            if self.context.store.get(secret_resource.storage_key, pod["metadata"]["namespace"], s)
        }
        error = self.registry.pull_error(image, secrets)
        if error:
            container.pull_failures += 1
            container.reason, container.message = "ErrImagePull", error
            self._event(pod, WARNING, "Failed", f'Failed to pull image "{image}": {error}', container)
            self._event(pod, WARNING, "Failed", "Error: ErrImagePull", container)
            container.timers["pull-backoff"] = when + 1
            return
        container.pull_failures = 0
        self._node_images.setdefault(pod["spec"]["nodeName"], set()).add(normalise_image(image) or image)
        took = self.registry.pull_seconds
        self._event(
            pod,
            NORMAL,
            "Pulled",
            f'Successfully pulled image "{image}" in {took:.3g}s '
            f"({took:.3g}s including waiting). Image size: {_image_size(image)} bytes.",
            container,
        )
        container.timers["create"] = when

    def _on_pull_backoff(
        self, pod: JsonObject, runtime: PodRuntime, container: ContainerRuntime, when: float
    ) -> None:
        image = container.spec.get("image", "")
        container.reason = "ImagePullBackOff"
        container.message = f'Back-off pulling image "{image}": ErrImagePull: {container.message}'
        self._event(pod, NORMAL, "BackOff", f'Back-off pulling image "{image}"', container)
        self._event(pod, WARNING, "Failed", "Error: ImagePullBackOff", container)
        container.timers["start"] = when + backoff_delay(container.pull_failures)

    def _on_create(
        self, pod: JsonObject, runtime: PodRuntime, container: ContainerRuntime, when: float
    ) -> None:
        config_error = self._config_error(pod, container.spec)
        if config_error:
            container.reason, container.message = "CreateContainerConfigError", config_error
            self._event(pod, WARNING, "Failed", f"Error: {config_error}", container)
            container.timers["create"] = when + CONFIG_RETRY_SECONDS
            return
        if container.state == "terminated" or container.last_terminated is not None:
            container.restart_count += 1
        container.state, container.reason, container.message = "running", "", ""
        container.started_at, container.finished_at = when, None
        container.container_id = (
            f"containerd://{self.context.objects.new_uid().replace('-', '')}"
            f"{self.context.objects.new_uid().replace('-', '')}"
        )
        self._event(pod, NORMAL, "Created", f"Created container: {container.name}", container)
        self._event(pod, NORMAL, "Started", f"Started container {container.name}", container)
        self._plan_run(pod, runtime, container, when)

    def _plan_run(
        self, pod: JsonObject, runtime: PodRuntime, container: ContainerRuntime, start: float
    ) -> None:
        """Decide from the behaviour when this run ends and how its probes go."""
        behaviour = container.behaviour
        log_key = self._log_key(runtime, container)
        self.logs.write(log_key, start, *behaviour.logs.start)
        exits: list[tuple[float, int, str, tuple[str, ...]]] = []
        if behaviour.exit_after is not None:
            exits.append(
                (
                    start + behaviour.exit_after,
                    behaviour.exit_code,
                    "Completed" if behaviour.exit_code == 0 else "Error",
                    behaviour.logs.exit,
                )
            )
        missing_env = [
            name for name in behaviour.required_env if name not in self._env_names(pod, container.spec)
        ]
        if missing_env:
            exits.append(
                (
                    start + 0.5,
                    1,
                    "Error",
                    tuple(f"Error: required environment variable {name} is not set" for name in missing_env),
                )
            )
        oom_at = _oom_time(container.spec, behaviour, start)
        if oom_at is not None:
            exits.append((oom_at, 137, "OOMKilled", ()))
        self.logs.every(log_key, start, behaviour.logs.every_seconds, behaviour.logs.every)
        if exits:
            exit_at, code, reason, lines = min(exits)
            container.planned_exit = (code, reason)
            self.logs.write(log_key, exit_at, *lines)
            container.timers["exit"] = exit_at
        container.peer_errors = None
        if behaviour.dependencies or behaviour.api_calls:
            # Peers are looked at when the app gets to them, and again whenever the Services,
            # Endpoints, NetworkPolicies or RBAC they depend on change (see `_check_peers`).
            container.timers["connect"] = start + behaviour.startup_seconds
        self._plan_probes(runtime, container, start, False)

    def _on_connect(
        self, pod: JsonObject, runtime: PodRuntime, container: ContainerRuntime, when: float
    ) -> None:
        self._check_peers(pod, runtime, container, when)

    def _check_peers(
        self, pod: JsonObject, runtime: PodRuntime, container: ContainerRuntime, when: float
    ) -> None:
        """What the app gets from its Services and API calls now; act on what changed since."""
        behaviour = container.behaviour
        errors: dict[Dependency | ApiCall, str] = {}
        for dependency in behaviour.dependencies:
            problem = self.network.problem(pod, runtime.ip, dependency)
            if problem is not None:
                errors[dependency] = f"error: cannot reach {dependency.service}:{dependency.port}: {problem}"
        for call in behaviour.api_calls:
            denial = self.network.rbac_denial(pod, call)
            if denial is not None:
                errors[call] = f"error: {denial}"
        before = container.peer_errors
        if before == errors:
            return
        container.peer_errors = errors
        log_key = self._log_key(runtime, container)
        periodic = self.logs.instance(log_key).periodic
        for peer, line in (before or {}).items():
            if errors.get(peer) != line:  # fixed, or failing differently: stop the old retry lines
                for schedule in periodic:
                    if schedule.lines == (line,) and schedule.until is None:
                        schedule.until = when
        for peer, line in errors.items():
            if (before or {}).get(peer) == line:
                continue
            if isinstance(peer, Dependency) and peer.on_failure == "crash":
                exit_at = when + PEER_CRASH_SECONDS
                ends = [container.timers.get(k, math.inf) for k in ("exit", "liveness-kill")]
                if min(ends) > exit_at:
                    container.planned_exit = (1, "Error")
                    container.timers.pop("liveness-kill", None)
                    container.timers["exit"] = exit_at
                    self.logs.write(log_key, exit_at, line)
                continue
            self.logs.write(log_key, when, line)
            self.logs.every(log_key, when, PEER_RETRY_SECONDS, (line,))
        was_unready, unready = (
            any(isinstance(p, Dependency) and p.on_failure == "unready" for p in peers or {})
            for peers in (before, errors)
        )
        if unready != was_unready and not container.init:
            self._replan_readiness(container, when, unready)

    def _replan_readiness(self, container: ContainerRuntime, when: float, unready_dependency: bool) -> None:
        """The app's readiness endpoint answers differently from now on: 503 while a peer is down."""
        plan = container.probes.get("readiness")
        probe = container.spec.get("readinessProbe")
        if plan is None or probe is None:
            return  # without a readiness probe the kubelet never asks
        container.timers.pop("ready", None)
        container.timers.pop("probe-readiness", None)
        if self._probe_failure(container, probe, "10.0.0.1", unready_dependency):
            container.probes["readiness"] = ProbePlan(plan.first_probe, plan.period, None, None)
            container.ready_at = None
            self._schedule_unhealthy(container, "readiness", container.probes["readiness"], when)
            return
        ticks = max(0, math.ceil((when - plan.first_probe) / plan.period))
        success = plan.first_probe + ticks * plan.period
        if container.ready_at is not None and container.ready_at <= success:
            success = container.ready_at
        container.probes["readiness"] = ProbePlan(plan.first_probe, plan.period, success, None)
        container.ready_at = success
        container.timers["ready"] = success

    def _plan_probes(
        self, runtime: PodRuntime, container: ContainerRuntime, start: float, unready_dependency: bool
    ) -> None:
        spec = container.spec
        container.probes.clear()
        container.ready_at = None
        after_startup = start
        startup_probe = spec.get("startupProbe")
        if startup_probe:
            plan = ProbePlan.compute(
                startup_probe, start, self._passes_from(container, startup_probe, start, False)
            )
            container.probes["startup"] = plan
            if plan.success_at is None:
                self._kill_at(container, plan.failure_at)
                self._schedule_unhealthy(container, "startup", plan)
                return
            after_startup = plan.success_at
            self._schedule_unhealthy(container, "startup", plan)
        liveness = spec.get("livenessProbe")
        if liveness:
            plan = ProbePlan.compute(
                liveness, after_startup, self._passes_from(container, liveness, start, False)
            )
            container.probes["liveness"] = plan
            self._kill_at(container, plan.failure_at)
            self._schedule_unhealthy(container, "liveness", plan)
        readiness = spec.get("readinessProbe")
        if container.init:
            return
        if readiness:
            plan = ProbePlan.compute(
                readiness, after_startup, self._passes_from(container, readiness, start, unready_dependency)
            )
            container.probes["readiness"] = plan
            container.ready_at = plan.success_at
            self._schedule_unhealthy(container, "readiness", plan)
        else:
            container.ready_at = after_startup
        if container.ready_at is not None:
            container.timers["ready"] = container.ready_at

    def _kill_at(self, container: ContainerRuntime, when: float | None) -> None:
        if when is not None and ("exit" not in container.timers or container.timers["exit"] > when):
            container.timers.pop("exit", None)
            container.timers["liveness-kill"] = when

    def _schedule_unhealthy(
        self, container: ContainerRuntime, probe: str, plan: ProbePlan, after: float | None = None
    ) -> None:
        first = plan.first_probe
        if after is not None and after > first:
            first += math.ceil((after - first) / plan.period) * plan.period
        if plan.failing_at(first):
            container.timers[f"probe-{probe}"] = first

    def _passes_from(
        self, container: ContainerRuntime, probe: JsonObject, start: float, unready_dependency: bool
    ) -> float | None:
        """When this probe starts passing: once the app listens, if it answers well at all."""
        return (
            None
            if self._probe_failure(container, probe, "10.0.0.1", unready_dependency)
            else (start + container.behaviour.startup_seconds)
        )

    def _probe_failure(
        self,
        container: ContainerRuntime,
        probe: JsonObject,
        ip: str,
        unready_dependency: bool = False,
        app_up: bool = True,
    ) -> str | None:
        """Why the probe fails (None if it passes), in the kubelet's words."""
        behaviour = container.behaviour
        listening = set(
            behaviour.listen
            if behaviour.listen is not None
            else (p.get("containerPort") for p in container.spec.get("ports") or [])
        )
        if not app_up:
            listening = set()
        if "exec" in probe:
            code = behaviour.exec_probe_exit_code
            return f"command {probe['exec'].get('command')!r} exited with {code}" if code else None
        for handler, scheme in (("httpGet", "http"), ("tcpSocket", None), ("grpc", None)):
            if handler not in probe:
                continue
            target = probe[handler]
            port = _resolve_port(target.get("port"), container.spec)
            if port not in listening:
                if scheme:
                    path = target.get("path", "/")
                    return (
                        f'Get "{scheme}://{ip}:{port}{path}": dial tcp {ip}:{port}: '
                        "connect: connection refused"
                    )
                return f"dial tcp {ip}:{port}: connect: connection refused"
            if scheme:
                code = 503 if unready_dependency else behaviour.http_status_for(target.get("path", "/"))
                if code >= 400:
                    return f"HTTP probe failed with statuscode: {code}"
        return None

    def _on_probe_startup(
        self, pod: JsonObject, runtime: PodRuntime, c: ContainerRuntime, when: float
    ) -> None:
        self._probe_tick(pod, runtime, c, "startup", when)

    def _on_probe_liveness(
        self, pod: JsonObject, runtime: PodRuntime, c: ContainerRuntime, when: float
    ) -> None:
        self._probe_tick(pod, runtime, c, "liveness", when)

    def _on_probe_readiness(
        self, pod: JsonObject, runtime: PodRuntime, c: ContainerRuntime, when: float
    ) -> None:
        self._probe_tick(pod, runtime, c, "readiness", when)

    def _probe_tick(
        self, pod: JsonObject, runtime: PodRuntime, container: ContainerRuntime, probe: str, when: float
    ) -> None:
        plan = container.probes.get(probe)
        if plan is None or container.state != "running" or not plan.failing_at(when):
            return
        assert container.started_at is not None
        spec_probe = container.spec[f"{probe}Probe"]
        app_up = when >= container.started_at + container.behaviour.startup_seconds
        unready_dependency = probe == "readiness" and any(
            isinstance(p, Dependency) and p.on_failure == "unready" for p in container.peer_errors or {}
        )
        reason = (
            self._probe_failure(container, spec_probe, runtime.ip, unready_dependency, app_up)
            or "probe failed"
        )
        self._event(pod, WARNING, "Unhealthy", f"{probe.capitalize()} probe failed: {reason}", container)
        following = when + plan.period
        # A failing readiness probe keeps being reported; liveness and startup end in a kill.
        if plan.failing_at(following) and (
            probe == "readiness" or plan.failure_at is None or following <= plan.failure_at
        ):
            container.timers[f"probe-{probe}"] = following

    def _on_ready(
        self, pod: JsonObject, runtime: PodRuntime, container: ContainerRuntime, when: float
    ) -> None:
        pass  # readiness is derived from ready_at when the status is written

    def _on_liveness_kill(
        self, pod: JsonObject, runtime: PodRuntime, container: ContainerRuntime, when: float
    ) -> None:
        probe = (
            "startup"
            if "startup" in container.probes and container.probes["startup"].success_at is None
            else "liveness"
        )
        self._event(
            pod,
            NORMAL,
            "Killing",
            f"Container {container.name} failed {probe} probe, will be restarted",
            container,
        )
        container.planned_exit = (137, "Error")
        self._on_exit(pod, runtime, container, when)

    def _on_exit(
        self, pod: JsonObject, runtime: PodRuntime, container: ContainerRuntime, when: float
    ) -> None:
        code, reason = container.planned_exit
        assert container.started_at is not None
        ran_for = when - container.started_at
        container.state, container.reason, container.exit_code = "terminated", reason, code
        container.finished_at = when
        container.timers.clear()
        container.ready_at = None
        self.logs.end(self._log_key(runtime, container), when)
        terminated = {
            "exitCode": code,
            "reason": reason,
            "startedAt": rfc3339(container.started_at),
            "finishedAt": rfc3339(when),
            "containerID": container.container_id,
        }
        container.last_terminated = terminated
        policy = pod["spec"].get("restartPolicy", "Always")
        if container.init and policy == "Always":
            policy = "OnFailure"  # init containers of long-running pods are retried until they succeed
        restart = policy == "Always" or (policy == "OnFailure" and code != 0)
        if not restart:
            return
        if ran_for >= BACKOFF_RESET_AFTER:
            container.consecutive_failures = 0
        container.consecutive_failures += 1
        if container.consecutive_failures == 1:
            container.timers["create"] = when  # the first restart is immediate
            return
        delay = backoff_delay(container.consecutive_failures - 1)
        container.state, container.reason = "waiting", "CrashLoopBackOff"
        meta = pod["metadata"]
        container.message = (
            f"back-off {format_backoff(delay)} restarting failed container={container.name} "
            f"pod={meta['name']}_{meta['namespace']}({meta['uid']})"
        )
        self._event(
            pod,
            WARNING,
            "BackOff",
            f"Back-off restarting failed container {container.name} in pod "
            f"{meta['name']}_{meta['namespace']}({meta['uid']})",
            container,
        )
        container.timers["create"] = when + delay

    # Status ------------------------------------------------------------------------------------

    def _write_status(self, pod: JsonObject, runtime: PodRuntime, now: float) -> None:
        node = self.context.store.get(self.nodes.storage_key, "", pod["spec"]["nodeName"]) or {}
        old_status = pod.get("status") or {}
        old_conditions = {c["type"]: c for c in old_status.get("conditions") or []}
        init_done = all(c.state == "terminated" and c.exit_code == 0 for c in runtime.init)
        main_ready = bool(runtime.main) and all(
            c.state == "running" and c.ready_at is not None and c.ready_at <= now for c in runtime.main
        )
        phase = _phase(pod, runtime)
        sandbox_ready = runtime.mount_error is None or any(c.state != "waiting" for c in runtime.containers())
        conditions_now = [
            ("PodReadyToStartContainers", sandbox_ready, None),
            ("Initialized", init_done, "ContainersNotInitialized"),
            ("Ready", main_ready and phase == "Running", "ContainersNotReady"),
            ("ContainersReady", main_ready, "ContainersNotReady"),
            ("PodScheduled", True, None),
        ]
        conditions = []
        for cond_type, value, false_reason in conditions_now:
            previous = old_conditions.get(cond_type, {})
            text = "True" if value else "False"
            cond: JsonObject = {
                "type": cond_type,
                "status": text,
                "lastProbeTime": None,
                "lastTransitionTime": previous.get("lastTransitionTime")
                if previous.get("status") == text
                else rfc3339(now),
            }
            if cond_type == "PodScheduled":
                cond["lastTransitionTime"] = previous.get("lastTransitionTime") or rfc3339(now)
            if not value and false_reason:
                cond["reason"] = false_reason
                pending = [
                    c.name
                    for c in (runtime.init if cond_type == "Initialized" else runtime.main)
                    if not (c.state == "running" and c.ready_at is not None and c.ready_at <= now)
                    and not (c.init and c.state == "terminated" and c.exit_code == 0)
                ]
                if cond_type == "Initialized":
                    cond["message"] = f"containers with incomplete status: [{' '.join(pending)}]"
                else:
                    cond["message"] = f"containers with unready status: [{' '.join(pending)}]"
            conditions.append(cond)
        new_status: JsonObject = {
            "observedGeneration": pod["metadata"].get("generation", 1),
            "phase": phase,
            "conditions": conditions,
            "hostIP": _node_ip(node),
            "hostIPs": [{"ip": _node_ip(node)}],
            "podIP": runtime.ip,
            "podIPs": [{"ip": runtime.ip}],
            "startTime": rfc3339(runtime.sandbox_started),
            "qosClass": old_status.get("qosClass", "BestEffort"),
        }
        if runtime.init:
            new_status["initContainerStatuses"] = [self._container_status(c, now) for c in runtime.init]
        new_status["containerStatuses"] = [self._container_status(c, now) for c in runtime.main]
        if new_status != old_status:
            updated = clone(pod)
            updated["status"] = new_status
            self.context.objects.save(self.pods, updated)

    def _container_status(self, container: ContainerRuntime, now: float) -> JsonObject:
        image = container.spec.get("image", "")
        state: JsonObject
        if container.state == "running":
            assert container.started_at is not None
            state = {"running": {"startedAt": rfc3339(container.started_at)}}
        elif container.state == "terminated" and container.reason != "CrashLoopBackOff":
            assert container.last_terminated is not None
            state = {"terminated": container.last_terminated}
        else:
            waiting: JsonObject = {"reason": container.reason}
            if container.message:
                waiting["message"] = container.message
            state = {"waiting": waiting}
        last_state: JsonObject = {}
        if container.last_terminated is not None and container.state != "terminated":
            last_state = {"terminated": container.last_terminated}
        ready = container.state == "running" and container.ready_at is not None and container.ready_at <= now
        status_entry: JsonObject = {
            "name": container.name,
            "state": state,
            "lastState": last_state,
            "ready": ready,
            "restartCount": container.restart_count,
            "image": image,
            "imageID": f"{normalise_image(image) or image}@sha256:{_digest(image)}"
            if container.container_id
            else "",
            "started": container.state == "running",
        }
        if container.container_id:
            status_entry["containerID"] = container.container_id
        limits = (container.spec.get("resources") or {}).get("limits")
        requests = (container.spec.get("resources") or {}).get("requests")
        if limits or requests:
            status_entry["resources"] = {k: v for k, v in (("limits", limits), ("requests", requests)) if v}
        return status_entry

    # Configuration checks ----------------------------------------------------------------------

    def _config_error(self, pod: JsonObject, container: JsonObject) -> str | None:
        namespace = pod["metadata"]["namespace"]
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            for ref_field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = source.get(ref_field)
                if ref and not ref.get("optional"):
                    problem = self._missing_key(namespace, kind, ref.get("name", ""), ref.get("key", ""))
                    if problem:
                        return problem
        for env_from in container.get("envFrom") or []:
            for ref_field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                ref = env_from.get(ref_field)
                if ref and not ref.get("optional"):
                    problem = self._missing_key(namespace, kind, ref.get("name", ""), None)
                    if problem:
                        return problem
        return None

    def _missing_key(self, namespace: str, kind: str, name: str, key: str | None) -> str | None:
        obj = self.context.store.get(self.context.resource("", kind).storage_key, namespace, name)
        if obj is None:
            return f'{kind.lower()} "{name}" not found'
        if (
            key is not None
            and key not in (obj.get("data") or {})
            and key not in (obj.get("binaryData") or {})
        ):
            return f"couldn't find key {key} in {kind} {namespace}/{name}"
        return None

    def _env_names(self, pod: JsonObject, container: JsonObject) -> set[str]:
        names = {env["name"] for env in container.get("env") or []}
        namespace = pod["metadata"]["namespace"]
        for env_from in container.get("envFrom") or []:
            for ref_field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                ref = env_from.get(ref_field)
                if ref:
                    obj = self.context.store.get(
                        self.context.resource("", kind).storage_key, namespace, ref.get("name", "")
                    )
                    prefix = env_from.get("prefix", "")
                    names.update(prefix + k for k in (obj or {}).get("data") or {})
        return names

    def container_env(self, pod: JsonObject, container: JsonObject) -> dict[str, str]:
        """The environment a process in the container sees (for exec)."""
        namespace = pod["metadata"]["namespace"]
        env: dict[str, str] = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME": pod["metadata"]["name"],
            "KUBERNETES_SERVICE_HOST": "10.96.0.1",
            "KUBERNETES_SERVICE_PORT": "443",
        }

        def lookup(kind: str, name: str) -> JsonObject:
            obj = self.context.store.get(self.context.resource("", kind).storage_key, namespace, name) or {}
            data = dict(obj.get("data") or {})
            if kind == "Secret":
                data = {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
            return data

        for env_from in container.get("envFrom") or []:
            for ref_field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if env_from.get(ref_field):
                    prefix = env_from.get("prefix", "")
                    env.update({prefix + k: v for k, v in lookup(kind, env_from[ref_field]["name"]).items()})
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = str(item["value"])
            source = item.get("valueFrom") or {}
            for ref_field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = source.get(ref_field)
                if ref:
                    value = lookup(kind, ref["name"]).get(ref["key"])
                    if value is not None:
                        env[item["name"]] = value
            field_ref = (source.get("fieldRef") or {}).get("fieldPath")
            if field_ref:
                env[item["name"]] = str(_field_path(pod, field_ref))
        return env

    # API server hooks: logs and exec -------------------------------------------------------------

    def _runtime_container(self, pod: JsonObject, container: str | None) -> tuple[PodRuntime | None, str]:
        names = [c["name"] for c in pod["spec"].get("containers") or []]
        init_names = [c["name"] for c in pod["spec"].get("initContainers") or []]
        if container is None:
            default = (pod["metadata"].get("annotations") or {}).get(
                "kubectl.kubernetes.io/default-container"
            )
            if len(names) == 1 or default in names:
                container = default if default in names else names[0]
            else:
                raise status.bad_request(
                    f"a container name must be specified for pod {pod['metadata']['name']}, choose one of: "
                    f"[{' '.join(names)}]"
                    + (f" or one of the init containers: [{' '.join(init_names)}]" if init_names else "")
                )
        if container is None or container not in names + init_names:
            raise container_not_found(str(container), pod["metadata"]["name"])
        return self._runtimes.get(pod["metadata"]["uid"]), container

    def _log_key(self, runtime: PodRuntime, container: ContainerRuntime) -> LogKey:
        return (runtime.uid, container.name, container.restart_count)

    def log_request(
        self,
        pod: JsonObject,
        *,
        container: str | None,
        previous: bool,
        tail_lines: int | None,
        since_seconds: int | None,
        since_time: str | None,
        timestamps: bool,
        limit_bytes: int | None,
    ) -> LogRequest:
        runtime, name = self._runtime_container(pod, container)
        meta = pod["metadata"]
        runtime_container = (
            next((c for c in runtime.containers() if c.name == name), None) if runtime else None
        )
        if (
            runtime is None
            or runtime_container is None
            or (
                runtime_container.state == "waiting"
                and runtime_container.restart_count == 0
                and runtime_container.last_terminated is None
            )
        ):
            reason = runtime_container.reason if runtime_container else "ContainerCreating"
            raise status.bad_request(
                f'container "{name}" in pod "{meta["name"]}" is waiting to start: {_waiting_phrase(reason)}'
            )
        instance = runtime_container.restart_count
        if runtime_container.state == "waiting" and runtime_container.last_terminated is not None:
            instance = runtime_container.restart_count  # the crashed run is still the current log
        if previous:
            if runtime_container.last_terminated is None:
                raise status.bad_request(
                    f'previous terminated container "{name}" in pod "{meta["name"]}" not found'
                )
            instance = runtime_container.restart_count - (1 if runtime_container.state == "running" else 0)
        now = self.context.clock.now
        since = now() - since_seconds if since_seconds else parse_time(since_time)
        uid = meta["uid"]
        return LogRequest(
            self.logs,
            (runtime.uid, name, instance),
            now,
            lambda: uid in self._runtimes,
            tail_lines,
            since,
            timestamps,
            limit_bytes,
        )

    def exec_starter(
        self, pod: JsonObject, container: str | None, command: list[str], *, tty: bool
    ) -> Callable[[], Awaitable[Any]]:
        from pilothouse.sim.sandbox import (
            ContainerSandbox,
            SandboxLimits,
            bubblewrap_available,
            start_process,
        )

        runtime, name = self._runtime_container(pod, container)
        runtime_container = (
            next((c for c in runtime.containers() if c.name == name), None) if runtime else None
        )
        if runtime is None or runtime_container is None or runtime_container.state != "running":
            raise status.bad_request(f'unable to upgrade connection: container not found ("{name}")')
        problem = bubblewrap_available()
        if problem:
            raise status.StatusError(500, "InternalError", f"exec is unavailable: {problem}")
        container_spec = runtime_container.spec
        limits = (container_spec.get("resources") or {}).get("limits") or {}
        memory = int(parse_quantity(str(limits["memory"]))) if "memory" in limits else 512 * 2**20
        sandbox = ContainerSandbox(
            root_dir=self._container_dir(runtime.uid, name),
            hostname=pod["metadata"]["name"],
            env=self.container_env(pod, container_spec),
            working_dir=container_spec.get("workingDir", "/"),
        )
        sandbox_limits = SandboxLimits(memory_bytes=max(memory, 64 * 2**20))

        async def start() -> Any:
            return await start_process(sandbox, command, tty=tty, limits=sandbox_limits)

        return start

    def _container_dir(self, uid: str, container: str) -> Path:
        if self._data_dir is None:
            if self._temp_dir is None:
                self._temp_dir = tempfile.TemporaryDirectory(prefix="pilothouse-sim-")
            base = Path(self._temp_dir.name)
        else:
            base = self._data_dir
        path = base / "containers" / uid / container
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def shutdown(self) -> None:
        if self._temp_dir is not None:
            self._temp_dir.cleanup()
            self._temp_dir = None

    # Helpers -------------------------------------------------------------------------------------

    def _event(
        self, pod: JsonObject, event_type: str, reason: str, message: str, container: ContainerRuntime | None
    ) -> None:
        field_path = None
        if container is not None:
            section = "initContainers" if container.init else "containers"
            field_path = f"spec.{section}{{{container.name}}}"
        self.context.events.record(
            pod,
            event_type,
            reason,
            message,
            component=COMPONENT,
            host=pod["spec"].get("nodeName"),
            field_path=field_path,
        )

    def _listening_ports(self, pod: JsonObject) -> set[int] | None:
        runtime = self._runtimes.get(pod["metadata"]["uid"])
        if runtime is None:
            return None
        now = self.context.clock.now()
        ports: set[int] = set()
        for container in runtime.main:
            if (
                container.state == "running"
                and container.started_at is not None
                and (container.started_at + container.behaviour.startup_seconds <= now)
            ):
                declared = (p.get("containerPort") for p in container.spec.get("ports") or [])
                listen = container.behaviour.listen
                ports.update(int(p) for p in (listen if listen is not None else declared) if p is not None)
        return ports

    def runtime_of(self, pod: JsonObject) -> PodRuntime | None:
        return self._runtimes.get(pod["metadata"]["uid"])


class Metrics:
    """metrics.k8s.io: usage computed from what running containers do."""

    def __init__(self, kubelet: Kubelet) -> None:
        self.kubelet = kubelet

    def container_usage(self, container: ContainerRuntime, now: float) -> tuple[float, float]:
        behaviour = container.behaviour
        assert container.started_at is not None
        memory = behaviour.memory_at(now - container.started_at)
        limits = (container.spec.get("resources") or {}).get("limits") or {}
        if "memory" in limits:
            memory = min(memory, float(parse_quantity(str(limits["memory"]))))
        cpu = behaviour.cpu_cores
        if "cpu" in limits:
            cpu = min(cpu, float(parse_quantity(str(limits["cpu"]))))
        return cpu, memory

    def pod_usage(self, pod: JsonObject) -> dict[str, float] | None:
        containers = self._running(pod)
        if not containers:
            return None
        now = self.kubelet.context.clock.now()
        usage = [self.container_usage(c, now) for c in containers]
        return {"cpu": sum(u[0] for u in usage), "memory": sum(u[1] for u in usage)}

    def _running(self, pod: JsonObject) -> list[ContainerRuntime]:
        runtime = self.kubelet.runtime_of(pod)
        if runtime is None:
            return []
        return [c for c in runtime.main if c.state == "running"]

    def pod_metrics(self, namespace: str | None) -> list[JsonObject]:
        now = self.kubelet.context.clock.now()
        items = []
        for pod in self.kubelet.context.store.list(self.kubelet.pods.storage_key, namespace):
            containers = self._running(pod)
            if not containers:
                continue
            meta = pod["metadata"]
            items.append(
                {
                    "kind": "PodMetrics",
                    "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {
                        "name": meta["name"],
                        "namespace": meta["namespace"],
                        "labels": meta.get("labels", {}),
                        "creationTimestamp": rfc3339(now),
                    },
                    "timestamp": rfc3339(now),
                    "window": "15s",
                    "containers": [
                        {"name": c.name, "usage": _usage_quantities(*self.container_usage(c, now))}
                        for c in containers
                    ],
                }
            )
        return items

    def node_metrics(self) -> list[JsonObject]:
        now = self.kubelet.context.clock.now()
        totals: dict[str, list[float]] = {}
        for pod in self.kubelet.context.store.iter(self.kubelet.pods.storage_key):
            node = pod["spec"].get("nodeName")
            if not node:
                continue
            for container in self._running(pod):
                cpu, memory = self.container_usage(container, now)
                total = totals.setdefault(node, [0.0, 0.0])
                total[0] += cpu
                total[1] += memory
        items = []
        for node in self.kubelet.context.store.list(self.kubelet.nodes.storage_key):
            if not _node_ready(node):
                continue
            name = node["metadata"]["name"]
            cpu, memory = totals.get(name, [0.0, 0.0])
            # The node's own daemons (kubelet, container runtime, system) use some too.
            items.append(
                {
                    "kind": "NodeMetrics",
                    "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {
                        "name": name,
                        "labels": node["metadata"].get("labels", {}),
                        "creationTimestamp": rfc3339(now),
                    },
                    "timestamp": rfc3339(now),
                    "window": "20s",
                    "usage": _usage_quantities(cpu + 0.08, memory + 600 * 2**20),
                }
            )
        return items


def _usage_quantities(cpu_cores: float, memory_bytes: float) -> dict[str, str]:
    return {"cpu": f"{int(cpu_cores * 1e9)}n", "memory": f"{int(memory_bytes / 1024)}Ki"}


def _phase(pod: JsonObject, runtime: PodRuntime) -> str:
    main = runtime.main
    policy = pod["spec"].get("restartPolicy", "Always")
    if any(c.state == "terminated" and c.exit_code != 0 for c in runtime.init) and policy == "Never":
        return "Failed"
    if not all(c.state == "terminated" and c.exit_code == 0 for c in runtime.init):
        return "Pending"
    if any(c.state == "running" for c in main):
        return "Running"
    if main and all(c.state == "terminated" for c in main):
        if policy == "Always":
            return "Running"
        if all(c.exit_code == 0 for c in main):
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    if any(c.restart_count > 0 or c.last_terminated for c in main):
        return "Running"
    return "Pending"


def _oom_time(container: JsonObject, behaviour: ContainerBehaviour, start: float) -> float | None:
    limits = (container.get("resources") or {}).get("limits") or {}
    if "memory" not in limits:
        return None
    limit = float(parse_quantity(str(limits["memory"])))
    if behaviour.memory_bytes >= limit:
        return start + max(1.0, behaviour.startup_seconds)
    if behaviour.memory_peak_bytes is not None and behaviour.memory_peak_bytes < limit:
        return None
    if behaviour.memory_growth_bytes_per_second > 0:
        return start + (limit - behaviour.memory_bytes) / behaviour.memory_growth_bytes_per_second
    return None


def _resolve_port(port: Any, container: JsonObject) -> int | None:
    if isinstance(port, int):
        return port
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    try:
        return int(port)
    except (TypeError, ValueError):
        return None


def _node_ready(node: JsonObject) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return True


def _node_ip(node: JsonObject) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address["address"])
    return ""


def _digest(image: str) -> str:
    return hashlib.sha256(image.encode()).hexdigest()


def _image_size(image: str) -> int:
    return 20_000_000 + int(_digest(image)[:6], 16) * 10


def _waiting_phrase(reason: str) -> str:
    return {"ContainerCreating": "ContainerCreating", "PodInitializing": "PodInitializing"}.get(
        reason, reason
    )


def _field_path(pod: JsonObject, path: str) -> Any:
    """Resolve a downward-API fieldPath: `status.podIP` or `metadata.annotations['a.b/c']`."""
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return (pod["metadata"].get(match[1]) or {}).get(match[2], "")
    value: Any = pod
    for part in path.split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    return value

"""A pod's status as kubectl's STATUS column shows it: ``Running``, ``CrashLoopBackOff``,
``Init:0/1``, ``Completed``, ``Terminating``.

The phase alone says ``Running`` for a pod whose container is crash-looping; what an operator
needs is the reason kubectl prints (its ``printPod``). This follows that function: the pod's
reason, else its phase; overridden by the first init container that has not finished; once
initialized, by the container statuses walked last to first; ``Terminating`` once deletion has
started.

The topology computes this for every pod of the cluster (10,000 and more), so it is written for
speed: plain ``dict.get`` and ``type() is`` checks, no intermediate lists, one pass over the
conditions. Objects come from the API server, but every level is still type-checked.
"""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]
_EMPTY: JsonObject = {}


def _dict(value: Any) -> JsonObject:
    return value if type(value) is dict else _EMPTY


def _list(value: Any) -> list[Any]:
    return value if type(value) is list else []


def _int(value: Any) -> int:
    return value if type(value) is int else 0


def _terminated_reason(terminated: JsonObject, prefix: str = "") -> str:
    reason = terminated.get("reason")
    if reason:
        return f"{prefix}{reason}"
    signal = _int(terminated.get("signal"))
    if signal:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{_int(terminated.get('exitCode'))}"


def _plainly_running(pod: JsonObject, status: JsonObject) -> bool:
    """A Running pod, not being deleted, no init containers left to report on, every container
    running: what most pods of a cluster are, and what printPod prints as ``Running``."""
    if status.get("phase") != "Running" or status.get("reason") or status.get("initContainerStatuses"):
        return False
    if _dict(pod.get("metadata")).get("deletionTimestamp"):
        return False
    statuses = status.get("containerStatuses")
    if type(statuses) is not list or not statuses:
        return False
    for container in statuses:
        state = container.get("state") if type(container) is dict else None
        if type(state) is not dict or state.get("terminated") or _dict(state.get("waiting")).get("reason"):
            return False
    return True


def pod_status(pod: JsonObject) -> str:
    status = _dict(pod.get("status"))
    if _plainly_running(pod, status):
        return "Running"
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    initialized: bool | None = None
    ready = False
    for condition in _list(status.get("conditions")):
        if type(condition) is not dict:
            continue
        kind = condition.get("type")
        if kind == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
        elif kind == "Initialized" and initialized is None:
            initialized = condition.get("status") == "True"
        elif kind == "Ready":
            ready = ready or condition.get("status") == "True"

    init_statuses = _list(status.get("initContainerStatuses"))
    initializing = False
    if init_statuses:
        init_reason = _init_reason(_list(_dict(pod.get("spec")).get("initContainers")), init_statuses)
        if init_reason is not None:
            initializing, reason = True, init_reason
    if not initializing or initialized:
        reason = _container_reason(_list(status.get("containerStatuses")), reason, ready)

    if _dict(pod.get("metadata")).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return str(reason) if reason else "Unknown"


def _init_reason(init_specs: list[Any], statuses: list[Any]) -> str | None:
    """What kubectl prints while the pod is initializing; None once every init container is done."""
    # Sidecars (init containers with restartPolicy Always) keep running: started is enough.
    sidecars = {
        spec.get("name")
        for spec in init_specs
        if type(spec) is dict and spec.get("restartPolicy") == "Always"
    }
    for index, container in enumerate(statuses):
        if type(container) is not dict:
            continue
        state = _dict(container.get("state"))
        terminated = state.get("terminated")
        if type(terminated) is dict and _int(terminated.get("exitCode")) == 0:
            continue
        if container.get("name") in sidecars and container.get("started") is True:
            continue
        if type(terminated) is dict:
            return _terminated_reason(terminated, prefix="Init:")
        waiting_reason = _dict(state.get("waiting")).get("reason")
        if waiting_reason and waiting_reason != "PodInitializing":
            return f"Init:{waiting_reason}"
        return f"Init:{index}/{len(init_specs)}"
    return None


def _container_reason(statuses: list[Any], reason: str, pod_ready: bool) -> str:
    has_running = False
    error_reason = ""
    # Walked last to first, so the first container with a waiting or terminated state decides.
    for container in reversed(statuses):
        if type(container) is not dict:
            continue
        state = _dict(container.get("state"))
        waiting_reason = _dict(state.get("waiting")).get("reason")
        terminated = state.get("terminated")
        if waiting_reason:
            reason = str(waiting_reason)
        elif type(terminated) is dict:
            reason = _terminated_reason(terminated)
            if _int(terminated.get("exitCode")) != 0:
                error_reason = reason
        elif container.get("ready") is True and type(state.get("running")) is dict:
            has_running = True
    # A pod whose first container completed is still up while another one runs.
    if reason == "Completed":
        if has_running and pod_ready:
            return "Running"
        if error_reason:
            return error_reason
        if has_running:
            return "NotReady"
    return reason

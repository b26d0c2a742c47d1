"""Server-side Table printing for the simulated Kubernetes API server.

`kubectl get` asks the API server for a `meta.k8s.io/v1` Table and prints whatever columns and
cells come back. A real kube-apiserver builds those tables in three ways, all reproduced here:

- built-in kinds with a printer: k8s.io/kubernetes/pkg/printers/internalversion/printers.go;
- built-in kinds without one (Role, LimitRange, CustomResourceDefinition, ...): the default
  table convertor of k8s.io/apiserver, columns Name and Created At;
- custom resources: the apiextensions table convertor, Name plus the CRD's
  additionalPrinterColumns (an Age column when the CRD declares none).

The server always fills the wide (priority 1) cells; kubectl hides those columns unless asked for
`-o wide`. Objects are expected as the API returns them, i.e. already defaulted; where a printer
reads a field the API server would have defaulted, the default is applied here too.

Entry point: `build_table` (end of the module). `human_duration`, `short_human_duration`,
`parse_timestamp`, `format_quantity` and the JSONPath helpers are public for other sim modules.
"""

from __future__ import annotations

import calendar
import functools
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from pilothouse.sim.resources import BUILTIN_API_GROUPS
from pilothouse.sim.validation.quantity import QuantityError, canonical_quantity

JSON = dict[str, Any]
Cell = str | int | float | bool | None
CellsFn = Callable[[JSON, float], list[Cell]]

# ---------------------------------------------------------------------------------------------
# Durations: k8s.io/apimachinery/pkg/util/duration, on integer nanoseconds like time.Duration.
# ---------------------------------------------------------------------------------------------

_SECOND: Final = 1_000_000_000
_MINUTE: Final = 60 * _SECOND
_HOUR: Final = 60 * _MINUTE


def _as_nanoseconds(seconds: float) -> int:
    return round(seconds * _SECOND)


def _whole_seconds(nanos: int) -> int:
    # Go's int(d.Seconds()) truncates toward zero, also for negative durations.
    return -(-nanos // _SECOND) if nanos < 0 else nanos // _SECOND


def human_duration(seconds: float) -> str:
    """`duration.HumanDuration`: "45s", "119s", "5m30s", "42m", "3h5m", "20h", "2d3h", "30d", "3y2d".

    Used for AGE and every other "time since" cell. A clock skew of up to two seconds into the
    future prints as "0s"; more than that prints "<invalid>".
    """
    nanos = _as_nanoseconds(seconds)
    whole_seconds = _whole_seconds(nanos)
    if whole_seconds < -1:
        return "<invalid>"
    if whole_seconds < 0:
        return "0s"
    if whole_seconds < 2 * 60:
        return f"{whole_seconds}s"
    minutes = nanos // _MINUTE
    if minutes < 10:
        rest = whole_seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 3 * 60:
        return f"{minutes}m"
    hours = nanos // _HOUR
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


def short_human_duration(seconds: float) -> str:
    """`duration.ShortHumanDuration`: one unit only ("59s", "59m", "23h", "364d", "2y")."""
    nanos = _as_nanoseconds(seconds)
    whole_seconds = _whole_seconds(nanos)
    if whole_seconds < -1:
        return "<invalid>"
    if whole_seconds < 0:
        return "0s"
    if whole_seconds < 60:
        return f"{whole_seconds}s"
    if nanos // _MINUTE < 60:
        return f"{nanos // _MINUTE}m"
    hours = nanos // _HOUR
    if hours < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


# ---------------------------------------------------------------------------------------------
# Timestamps
# ---------------------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)
# metav1.Time's zero value ("0001-01-01T00:00:00Z") means "not set" to every printer.
_ZERO_TIME: Final = float(calendar.timegm((1, 1, 1, 0, 0, 0)))


@functools.lru_cache(maxsize=65_536)
def parse_timestamp(value: str) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp ("2026-11-22T14:23:25Z"), or None when malformed."""
    match = _RFC3339.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    try:
        epoch = calendar.timegm((year, month, day, hour, minute, second))
    except ValueError:
        return None
    fraction = float(match.group(7)) if match.group(7) else 0.0
    if match.group(9):
        offset = (int(match.group(10)) * 60 + int(match.group(11))) * 60
        epoch -= offset if match.group(9) == "+" else -offset
    return epoch + fraction


def _instant(value: Any) -> float | None:
    """A set timestamp field as epoch seconds; None for missing, empty or zero times."""
    if not isinstance(value, str):
        return None
    parsed = parse_timestamp(value)
    return None if parsed is None or parsed == _ZERO_TIME else parsed


def _since(value: Any, now: float) -> str:
    """printers.go translateTimestampSince (also used for MicroTime)."""
    instant = _instant(value)
    return "<unknown>" if instant is None else human_duration(now - instant)


def _age(obj: JSON, now: float) -> str:
    return _since(_dig(obj, "metadata", "creationTimestamp"), now)


# ---------------------------------------------------------------------------------------------
# Reading JSON objects: missing or mistyped fields read as Go zero values.
# ---------------------------------------------------------------------------------------------


def _dig(obj: Any, *keys: str) -> Any:
    # The hottest function of list printing: `type(...) is dict` is cheaper than isinstance,
    # and JSON-decoded objects are plain dicts.
    for key in keys:
        if type(obj) is not dict:
            return None
        obj = obj.get(key)
    return obj


def _text(obj: Any, *keys: str) -> str:
    value = _dig(obj, *keys)
    return value if isinstance(value, str) else ""


def _as_int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _integer(obj: Any, *keys: str) -> int:
    return _as_int(_dig(obj, *keys))


def _mapping(obj: Any, *keys: str) -> JSON:
    value = _dig(obj, *keys)
    return value if isinstance(value, dict) else {}


def _records(obj: Any, *keys: str) -> list[JSON]:
    value = _dig(obj, *keys)
    if type(value) is not list:
        return []
    # Almost always every item is an object: return the list itself rather than a filtered copy.
    if all(type(item) is dict for item in value):
        return value
    return [item for item in value if isinstance(item, dict)]


def _strings(obj: Any, *keys: str) -> list[str]:
    value = _dig(obj, *keys)
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _present(obj: Any, *keys: str) -> bool:
    """Whether a pointer field is set (Go `!= nil`): the key exists with a non-null value."""
    return _dig(obj, *keys) is not None


def _name(obj: JSON) -> str:
    return _text(obj, "metadata", "name")


def _replicas(obj: JSON) -> int:
    # spec.replicas is defaulted to 1 by the API server for every workload kind.
    value = _dig(obj, "spec", "replicas")
    return _integer(obj, "spec", "replicas") if value is not None else 1


# ---------------------------------------------------------------------------------------------
# Formatting shared by several printers
# ---------------------------------------------------------------------------------------------


def _format_labels(labels: Any) -> str:
    """labels.FormatLabels: "a=1,b=2" sorted by key, "<none>" when empty."""
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def _selector_string(selector: Any) -> str | None:
    """metav1.LabelSelectorAsSelector(selector).String(); None when the selector is invalid."""
    if not isinstance(selector, dict):
        return ""  # a nil selector selects nothing and prints as ""
    requirements: list[tuple[str, str]] = [
        (key, f"{key}={value}") for key, value in _mapping(selector, "matchLabels").items()
    ]
    for expression in _records(selector, "matchExpressions"):
        key, operator = _text(expression, "key"), _text(expression, "operator")
        values = sorted(_strings(expression, "values"))
        if operator in ("In", "NotIn") and values:
            word = "in" if operator == "In" else "notin"
            requirements.append((key, f"{key} {word} ({','.join(values)})"))
        elif operator == "Exists" and not values:
            requirements.append((key, key))
        elif operator == "DoesNotExist" and not values:
            requirements.append((key, f"!{key}"))
        else:
            return None
    requirements.sort(key=lambda requirement: requirement[0])
    return ",".join(text for _, text in requirements)


def _format_label_selector(selector: Any) -> str:
    """metav1.FormatLabelSelector: "<none>" for an empty selector, "<error>" for an invalid one."""
    text = _selector_string(selector)
    if text is None:
        return "<error>"
    return text or "<none>"


def _container_cells(pod_spec: JSON) -> list[Cell]:
    """layoutContainerCells: container names and images, each joined with ","."""
    containers = _records(pod_spec, "containers")
    return [
        ",".join(_text(container, "name") for container in containers),
        ",".join(_text(container, "image") for container in containers),
    ]


def _list_with_more(values: list[str], total: int, limit: int, empty: str) -> str:
    """The "a,b,c + 2 more..." lists of endpoints, ports and hosts."""
    text = ",".join(values[:limit])
    if total > limit:
        return f"{text} + {total - limit} more..."
    return text or empty


def _int_or_string(value: Any) -> str:
    """intstr.IntOrString.String(): "2" or "25%"."""
    return value if isinstance(value, str) else str(_as_int(value))


def _bool_text(value: Any) -> str:
    """printBoolPtr: "True", "False" or "<unset>"."""
    if not isinstance(value, bool):
        return "<unset>"
    return "True" if value else "False"


def _load_balancer_addresses(status: JSON) -> str:
    """loadBalancerStatusStringer in wide mode (the server never clips): sorted unique IPs/hosts."""
    addresses = {
        _text(ingress, "ip") or _text(ingress, "hostname") for ingress in _records(status, "ingress")
    }
    return ",".join(sorted(addresses - {""}))


# resource.Quantity ---------------------------------------------------------------------------


def format_quantity(raw: Any) -> str:
    """resource.Quantity.String(): the canonical form ("1024Mi" -> "1Gi", "0.5" -> "500m").

    A missing quantity is Go's zero Quantity and prints "0"; text that is not a quantity is
    returned unchanged.
    """
    if raw is None:
        return "0"
    text = raw.strip() if isinstance(raw, str) else str(raw)
    try:
        return canonical_quantity(text)
    except QuantityError:
        return text


def _pointer_quantity(raw: Any) -> str:
    """(*resource.Quantity).String() on an optional field: "<nil>" when unset."""
    return "<nil>" if raw is None else format_quantity(raw)


# ---------------------------------------------------------------------------------------------
# Pods: printPod
# ---------------------------------------------------------------------------------------------


def _is_restartable_init_container(container: JSON | None) -> bool:
    # Sidecar containers: init containers with restartPolicy Always run for the pod's lifetime.
    return container is not None and _text(container, "restartPolicy") == "Always"


def _later(current: float | None, candidate: float | None) -> float | None:
    if candidate is None:
        return current
    return candidate if current is None or candidate > current else current


def _last_termination(status: JSON) -> float | None:
    return _instant(_dig(status, "lastState", "terminated", "finishedAt"))


def _has_condition(conditions: list[JSON], condition_type: str) -> bool:
    """Whether the first condition of that type has status True (hasJobCondition & co)."""
    for condition in conditions:
        if condition.get("type") == condition_type:
            return condition.get("status") == "True"
    return False


def _pod_ready(status: JSON) -> bool:
    return any(
        condition.get("type") == "Ready" and condition.get("status") == "True"
        for condition in _records(status, "conditions")
    )


def _terminated_reason(terminated: JSON, prefix: str = "") -> str:
    if _text(terminated, "reason"):
        return prefix + _text(terminated, "reason")
    if _integer(terminated, "signal"):
        return f"{prefix}Signal:{_integer(terminated, 'signal')}"
    return f"{prefix}ExitCode:{_integer(terminated, 'exitCode')}"


@dataclass
class _PodTally:
    """What printPod accumulates while walking the container statuses."""

    reason: str
    ready: int = 0
    restarts: int = 0
    last_restart: float | None = None
    # Sidecars (restartable init containers) are counted apart: once the pod is initialized,
    # their restarts replace those of all init containers.
    sidecar_restarts: int = 0
    sidecar_last_restart: float | None = None


@dataclass(frozen=True)
class _PodRow:
    """What a pod's row needs that does not depend on the time of the request."""

    cells: tuple[Cell, ...]  # RESTARTS and AGE are filled in per request
    restarts: int
    last_restart: float | None
    created: Any


# (uid, resourceVersion) → _PodRow. A stored object never changes under the same
# resourceVersion, so repeated lists of a large cluster print only what changed since.
_POD_ROWS: OrderedDict[tuple[str, str], _PodRow] = OrderedDict()
_POD_ROWS_MAX = 50_000
_CACHE_ROWS: ContextVar[bool] = ContextVar("cache_rows", default=False)


def _pod_cells(pod: JSON, now: float) -> list[Cell]:
    meta = _mapping(pod, "metadata")
    uid, version = meta.get("uid"), meta.get("resourceVersion")
    if _CACHE_ROWS.get() and isinstance(uid, str) and isinstance(version, str):
        key = (uid, version)
        row = _POD_ROWS.get(key)
        if row is None:
            row = _POD_ROWS[key] = _pod_row(pod)
            if len(_POD_ROWS) > _POD_ROWS_MAX:
                _POD_ROWS.popitem(last=False)
    else:
        row = _pod_row(pod)
    restarts = str(row.restarts)
    if row.restarts and row.last_restart is not None:
        restarts = f"{row.restarts} ({human_duration(now - row.last_restart)} ago)"
    cells = list(row.cells)
    cells[3:3] = [restarts, _since(row.created, now)]
    return cells


def _pod_row(pod: JSON) -> _PodRow:
    spec, status = _mapping(pod, "spec"), _mapping(pod, "status")
    phase = _text(status, "phase")
    tally = _PodTally(reason=_text(status, "reason") or phase)
    if any(
        condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated"
        for condition in _records(status, "conditions")
    ):
        tally.reason = "SchedulingGated"

    init_specs = _records(spec, "initContainers")
    total = len(_records(spec, "containers")) + sum(map(_is_restartable_init_container, init_specs))
    initializing = _tally_init_containers(tally, init_specs, status)
    if not initializing or _has_condition(_records(status, "conditions"), "Initialized"):
        tally.restarts, tally.last_restart = tally.sidecar_restarts, tally.sidecar_last_restart
        _tally_containers(tally, status)

    if _present(pod, "metadata", "deletionTimestamp"):
        if _text(status, "reason") == "NodeLost":
            tally.reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            tally.reason = "Terminating"

    pod_ips = _records(status, "podIPs")
    cells = (
        _name(pod),
        f"{tally.ready}/{total}",
        tally.reason,
        (_text(pod_ips[0], "ip") if pod_ips else "") or "<none>",
        _text(spec, "nodeName") or "<none>",
        _text(status, "nominatedNodeName") or "<none>",
        _readiness_gates(_records(spec, "readinessGates"), _records(status, "conditions")),
    )
    return _PodRow(cells, tally.restarts, tally.last_restart, _dig(pod, "metadata", "creationTimestamp"))


def _tally_init_containers(tally: _PodTally, init_specs: list[JSON], status: JSON) -> bool:
    """Walk the init container statuses as printPod does; True while the pod is initializing."""
    specs_by_name = {_text(container, "name"): container for container in init_specs}
    for index, container in enumerate(_records(status, "initContainerStatuses")):
        finished = _last_termination(container)
        tally.restarts += _integer(container, "restartCount")
        tally.last_restart = _later(tally.last_restart, finished)
        restartable = _is_restartable_init_container(specs_by_name.get(_text(container, "name")))
        if restartable:
            tally.sidecar_restarts += _integer(container, "restartCount")
            tally.sidecar_last_restart = _later(tally.sidecar_last_restart, finished)
        terminated = _dig(container, "state", "terminated")
        waiting_reason = _text(container, "state", "waiting", "reason")
        if isinstance(terminated, dict) and _integer(terminated, "exitCode") == 0:
            continue
        if restartable and container.get("started") is True:
            tally.ready += 1 if container.get("ready") is True else 0
            continue
        if isinstance(terminated, dict):
            tally.reason = _terminated_reason(terminated, prefix="Init:")
        elif waiting_reason and waiting_reason != "PodInitializing":
            tally.reason = "Init:" + waiting_reason
        else:
            tally.reason = f"Init:{index}/{len(init_specs)}"
        return True
    return False


def _tally_containers(tally: _PodTally, status: JSON) -> None:
    has_running = False
    error_reason = ""
    # Walked last to first: the first container with a waiting or terminated state decides.
    for container in reversed(_records(status, "containerStatuses")):
        tally.restarts += _integer(container, "restartCount")
        tally.last_restart = _later(tally.last_restart, _last_termination(container))
        waiting_reason = _text(container, "state", "waiting", "reason")
        terminated = _dig(container, "state", "terminated")
        if waiting_reason:
            tally.reason = waiting_reason
        elif isinstance(terminated, dict):
            tally.reason = _terminated_reason(terminated)
            if _integer(terminated, "exitCode") != 0:
                error_reason = tally.reason
        elif container.get("ready") is True and isinstance(_dig(container, "state", "running"), dict):
            has_running = True
            tally.ready += 1
    # A pod whose first container completed is still up while another container runs.
    if tally.reason == "Completed":
        if has_running and _pod_ready(status):
            tally.reason = "Running"
        elif error_reason:
            tally.reason = error_reason
        elif has_running:
            tally.reason = "NotReady"


def _readiness_gates(gates: list[JSON], conditions: list[JSON]) -> str:
    if not gates:
        return "<none>"
    passed = 0
    for gate in gates:
        for condition in conditions:
            if condition.get("type") == gate.get("conditionType"):
                passed += 1 if condition.get("status") == "True" else 0
                break
    return f"{passed}/{len(gates)}"


def _pod_row_conditions(pod: JSON) -> list[JSON]:
    phase = _text(pod, "status", "phase")
    if phase == "Succeeded":
        message = "The pod has completed successfully."
    elif phase == "Failed":
        message = "The pod failed."
    else:
        return []
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]


# ---------------------------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------------------------


def _pod_template_spec(obj: JSON, *path: str) -> JSON:
    return _mapping(obj, *path, "template", "spec")


def _deployment_cells(obj: JSON, now: float) -> list[Cell]:
    status = _mapping(obj, "status")
    selector = _selector_string(_dig(obj, "spec", "selector"))
    return [
        _name(obj),
        f"{_integer(status, 'readyReplicas')}/{_replicas(obj)}",
        _integer(status, "updatedReplicas"),
        _integer(status, "availableReplicas"),
        _age(obj, now),
        *_container_cells(_pod_template_spec(obj, "spec")),
        "<invalid>" if selector is None else selector,
    ]


def _replica_set_cells(obj: JSON, now: float) -> list[Cell]:
    status = _mapping(obj, "status")
    return [
        _name(obj),
        _replicas(obj),
        _integer(status, "replicas"),
        _integer(status, "readyReplicas"),
        _age(obj, now),
        *_container_cells(_pod_template_spec(obj, "spec")),
        _format_label_selector(_dig(obj, "spec", "selector")),
    ]


def _replication_controller_cells(obj: JSON, now: float) -> list[Cell]:
    status = _mapping(obj, "status")
    return [
        _name(obj),
        _replicas(obj),
        _integer(status, "replicas"),
        _integer(status, "readyReplicas"),
        _age(obj, now),
        *_container_cells(_pod_template_spec(obj, "spec")),
        _format_labels(_dig(obj, "spec", "selector")),
    ]


def _stateful_set_cells(obj: JSON, now: float) -> list[Cell]:
    return [
        _name(obj),
        f"{_integer(obj, 'status', 'readyReplicas')}/{_replicas(obj)}",
        _age(obj, now),
        *_container_cells(_pod_template_spec(obj, "spec")),
    ]


_DAEMON_SET_COUNTERS: Final = (
    "desiredNumberScheduled",
    "currentNumberScheduled",
    "numberReady",
    "updatedNumberScheduled",
    "numberAvailable",
)


def _daemon_set_cells(obj: JSON, now: float) -> list[Cell]:
    status = _mapping(obj, "status")
    return [
        _name(obj),
        *(_integer(status, counter) for counter in _DAEMON_SET_COUNTERS),
        _format_labels(_dig(obj, "spec", "template", "spec", "nodeSelector")),
        _age(obj, now),
        *_container_cells(_pod_template_spec(obj, "spec")),
        _format_label_selector(_dig(obj, "spec", "selector")),
    ]


# Checked in this order; the first true condition names the job's status (printJob).
_JOB_STATUS_BY_CONDITION: Final = (
    ("Complete", "Complete"),
    ("Failed", "Failed"),
    (None, "Terminating"),  # deletionTimestamp set
    ("Suspended", "Suspended"),
    ("FailureTarget", "FailureTarget"),
    ("SuccessCriteriaMet", "SuccessCriteriaMet"),
)


def _job_status(job: JSON) -> str:
    conditions = _records(job, "status", "conditions")
    for condition_type, status in _JOB_STATUS_BY_CONDITION:
        if condition_type is None:
            if _present(job, "metadata", "deletionTimestamp"):
                return status
        elif _has_condition(conditions, condition_type):
            return status
    return "Running"


def _job_cells(job: JSON, now: float) -> list[Cell]:
    spec, status = _mapping(job, "spec"), _mapping(job, "status")
    succeeded = _integer(status, "succeeded")
    if _present(spec, "completions"):
        completions = f"{succeeded}/{_integer(spec, 'completions')}"
    elif _integer(spec, "parallelism") > 1:
        completions = f"{succeeded}/1 of {_integer(spec, 'parallelism')}"
    else:
        completions = f"{succeeded}/1"
    started = _instant(status.get("startTime"))
    finished = _instant(status.get("completionTime"))
    duration = ""
    if started is not None:
        duration = human_duration((now if finished is None else finished) - started)
    return [
        _name(job),
        _job_status(job),
        completions,
        duration,
        _age(job, now),
        *_container_cells(_pod_template_spec(job, "spec")),
        _format_label_selector(spec.get("selector")),
    ]


def _cron_job_cells(cron_job: JSON, now: float) -> list[Cell]:
    spec, status = _mapping(cron_job, "spec"), _mapping(cron_job, "status")
    job_spec = _mapping(spec, "jobTemplate", "spec")
    last_schedule = "<none>"
    if _present(status, "lastScheduleTime"):
        last_schedule = _since(status["lastScheduleTime"], now)
    return [
        _name(cron_job),
        _text(spec, "schedule"),
        _text(spec, "timeZone") if _present(spec, "timeZone") else "<none>",
        _bool_text(spec.get("suspend")),
        len(_records(status, "active")),
        last_schedule,
        _age(cron_job, now),
        *_container_cells(_pod_template_spec(job_spec)),
        _format_label_selector(job_spec.get("selector")),
    ]


def _controller_revision_cells(revision: JSON, now: float) -> list[Cell]:
    controller = "<none>"
    for owner in _records(revision, "metadata", "ownerReferences"):
        if owner.get("controller") is True:
            # formatResourceName: lower-cased "kind.group/name" ("statefulset.apps/web").
            group = _text(owner, "apiVersion").rpartition("/")[0]
            kind = _text(owner, "kind") + (f".{group}" if group else "")
            controller = f"{kind.lower()}/{_text(owner, 'name')}"
            break
    return [_name(revision), controller, _integer(revision, "revision"), _age(revision, now)]


def _pod_template_cells(template: JSON, now: float) -> list[Cell]:
    return [
        _name(template),
        *_container_cells(_mapping(template, "template", "spec")),
        _format_labels(_dig(template, "template", "metadata", "labels")),
    ]


def _horizontal_pod_autoscaler_cells(hpa: JSON, now: float) -> list[Cell]:
    spec, status = _mapping(hpa, "spec"), _mapping(hpa, "status")
    target = _mapping(spec, "scaleTargetRef")
    metrics, current = _records(spec, "metrics"), _records(status, "currentMetrics")
    if _text(hpa, "apiVersion") == "autoscaling/v1":
        metrics, current = _cpu_metric_from_v1(spec, status)
    return [
        _name(hpa),
        f"{_text(target, 'kind')}/{_text(target, 'name')}",
        _format_hpa_metrics(metrics, current),
        str(_integer(spec, "minReplicas")) if _present(spec, "minReplicas") else "<unset>",
        _integer(spec, "maxReplicas"),
        _integer(status, "currentReplicas"),
        _age(hpa, now),
    ]


def _cpu_metric_from_v1(spec: JSON, status: JSON) -> tuple[list[JSON], list[JSON]]:
    """autoscaling/v1 keeps one CPU target; the server converts it to a v2 Resource metric."""
    if not _present(spec, "targetCPUUtilizationPercentage"):
        return [], []
    target = {"type": "Utilization", "averageUtilization": spec["targetCPUUtilizationPercentage"]}
    metrics = [{"type": "Resource", "resource": {"name": "cpu", "target": target}}]
    if not _present(status, "currentCPUUtilizationPercentage"):
        return metrics, []
    current = {"averageUtilization": status["currentCPUUtilizationPercentage"]}
    return metrics, [{"type": "Resource", "resource": {"name": "cpu", "current": current}}]


# HPA metric type -> the field of MetricSpec/MetricStatus that carries it.
_HPA_METRIC_FIELDS: Final = {
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "Pods": "pods",
    "Object": "object",
    "External": "external",
}
_HPA_SHOWN_METRICS: Final = 2


def _format_hpa_metrics(specs: list[JSON], statuses: list[JSON]) -> str:
    """formatHPAMetrics: "cpu: 45%/80%, memory: 200Mi/1Gi + 1 more..."."""
    if not specs:
        return "<none>"
    shown = [_format_hpa_metric(spec, statuses, index) for index, spec in enumerate(specs)]
    text = ", ".join(shown[:_HPA_SHOWN_METRICS])
    if len(shown) > _HPA_SHOWN_METRICS:
        return f"{text} + {len(shown) - _HPA_SHOWN_METRICS} more..."
    return text


def _format_hpa_metric(spec: JSON, statuses: list[JSON], index: int) -> str:
    field = _HPA_METRIC_FIELDS.get(_text(spec, "type"))
    if field is None:
        return "<unknown type>"
    target = _mapping(spec, field, "target")
    # Statuses are matched to specs by position, not by name, exactly as the real printer does.
    status = _dig(statuses[index], field) if index < len(statuses) else None
    reported = isinstance(status, dict)
    current = _mapping(status, "current")
    if field in ("resource", "containerResource"):
        label = f"{_text(spec, field, 'name')}: "
        if _present(target, "averageValue"):
            shown = _pointer_quantity(current.get("averageValue")) if reported else "<unknown>"
            return f"{label}{shown}/{format_quantity(target['averageValue'])}"
        shown = "<unknown>"
        if _present(current, "averageUtilization"):
            shown = f"{_integer(current, 'averageUtilization')}%"
        wanted = "<auto>"
        if _present(target, "averageUtilization"):
            wanted = f"{_integer(target, 'averageUtilization')}%"
        return f"{label}{shown}/{wanted}"
    if field == "pods":
        shown = _pointer_quantity(current.get("averageValue")) if reported else "<unknown>"
        return f"{shown}/{_pointer_quantity(target.get('averageValue'))}"
    # Object and External metrics: an average value target is marked "(avg)".
    if _present(target, "averageValue"):
        shown = "<unknown>"
        if _present(current, "averageValue"):
            shown = format_quantity(current["averageValue"])
        return f"{shown}/{format_quantity(target['averageValue'])} (avg)"
    shown = _pointer_quantity(current.get("value")) if reported else "<unknown>"
    return f"{shown}/{_pointer_quantity(target.get('value'))}"


def _pod_disruption_budget_cells(pdb: JSON, now: float) -> list[Cell]:
    spec = _mapping(pdb, "spec")
    return [
        _name(pdb),
        _int_or_string(spec["minAvailable"]) if _present(spec, "minAvailable") else "N/A",
        _int_or_string(spec["maxUnavailable"]) if _present(spec, "maxUnavailable") else "N/A",
        _integer(pdb, "status", "disruptionsAllowed"),
        _age(pdb, now),
    ]


# ---------------------------------------------------------------------------------------------
# Networking
# ---------------------------------------------------------------------------------------------


def _service_external_ip(service: JSON, service_type: str) -> str:
    external_ips = _strings(service, "spec", "externalIPs")
    if service_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) or "<none>"
    if service_type == "LoadBalancer":
        balancer = _load_balancer_addresses(_mapping(service, "status", "loadBalancer"))
        if external_ips:
            return ",".join([*filter(None, balancer.split(",")), *external_ips])
        return balancer or "<pending>"
    if service_type == "ExternalName":
        return _text(service, "spec", "externalName")
    return "<unknown>"


def _service_ports(ports: list[JSON]) -> str:
    """makePortString: "80/TCP,443:30443/TCP" (node ports after the colon)."""
    pieces = []
    for port in ports:
        protocol = _text(port, "protocol") or "TCP"  # defaulted by the API server
        node_port = _integer(port, "nodePort")
        prefix = f"{_integer(port, 'port')}:{node_port}" if node_port > 0 else str(_integer(port, "port"))
        pieces.append(f"{prefix}/{protocol}")
    return ",".join(pieces) or "<none>"


def _service_cells(service: JSON, now: float) -> list[Cell]:
    spec = _mapping(service, "spec")
    service_type = _text(spec, "type") or "ClusterIP"  # defaulted by the API server
    cluster_ips = _strings(spec, "clusterIPs")
    return [
        _name(service),
        service_type,
        cluster_ips[0] if cluster_ips else "<none>",
        _service_external_ip(service, service_type),
        _service_ports(_records(spec, "ports")),
        _age(service, now),
        _format_labels(spec.get("selector")),
    ]


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


_SHOWN_ENDPOINTS: Final = 3


def _endpoints_cells(endpoints: JSON, now: float) -> list[Cell]:
    """formatEndpoints: "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."."""
    subsets = _records(endpoints, "subsets")
    addresses: list[str] = []
    for subset in subsets:
        ips = [_text(address, "ip") for address in _records(subset, "addresses")]
        ports = _records(subset, "ports")
        if not ports:  # headless services may have no ports
            addresses.extend(ips)
        for port in ports:
            addresses.extend(_join_host_port(ip, _integer(port, "port")) for ip in ips)
    text = "<none>" if not subsets else _list_with_more(addresses, len(addresses), _SHOWN_ENDPOINTS, "")
    return [_name(endpoints), text, _age(endpoints, now)]


def _endpoint_slice_cells(slice_: JSON, now: float) -> list[Cell]:
    ports = [
        str(_integer(port, "port")) if _present(port, "port") else _text(port, "name") or "*"
        for port in _records(slice_, "ports")
    ]
    addresses = [
        address for endpoint in _records(slice_, "endpoints") for address in _strings(endpoint, "addresses")
    ]
    return [
        _name(slice_),
        _text(slice_, "addressType"),
        _list_with_more(ports, len(ports), _SHOWN_ENDPOINTS, "<unset>"),
        _list_with_more(addresses, len(addresses), _SHOWN_ENDPOINTS, "<unset>"),
        _age(slice_, now),
    ]


def _ingress_hosts(rules: list[JSON]) -> str:
    """formatHosts: the first three hosts named by rules, "*" when no rule names one."""
    hosts: list[str] = []
    more = False
    for rule in rules:
        more = more or len(hosts) == _SHOWN_ENDPOINTS
        if not more and _text(rule, "host"):
            hosts.append(_text(rule, "host"))
    if not hosts:
        return "*"
    # The real printer counts every rule beyond the third as "more", with or without a host.
    return f"{','.join(hosts)} + {len(rules) - _SHOWN_ENDPOINTS} more..." if more else ",".join(hosts)


def _ingress_cells(ingress: JSON, now: float) -> list[Cell]:
    spec = _mapping(ingress, "spec")
    return [
        _name(ingress),
        _text(spec, "ingressClassName") if _present(spec, "ingressClassName") else "<none>",
        _ingress_hosts(_records(spec, "rules")),
        _load_balancer_addresses(_mapping(ingress, "status", "loadBalancer")),
        "80, 443" if _records(spec, "tls") else "80",
        _age(ingress, now),
    ]


def _ingress_class_cells(ingress_class: JSON, now: float) -> list[Cell]:
    parameters = _dig(ingress_class, "spec", "parameters")
    reference = "<none>"
    if isinstance(parameters, dict):
        group = f".{parameters['apiGroup']}" if _present(parameters, "apiGroup") else ""
        reference = f"{_text(parameters, 'kind')}{group}/{_text(parameters, 'name')}"
    return [
        _name(ingress_class),
        _text(ingress_class, "spec", "controller"),
        reference,
        _age(ingress_class, now),
    ]


def _network_policy_cells(policy: JSON, now: float) -> list[Cell]:
    return [_name(policy), _format_label_selector(_mapping(policy, "spec", "podSelector")), _age(policy, now)]


# ---------------------------------------------------------------------------------------------
# Cluster: nodes, namespaces, events
# ---------------------------------------------------------------------------------------------

_NODE_ROLE_PREFIX: Final = "node-role.kubernetes.io/"


def _node_status(node: JSON) -> str:
    ready = None
    for condition in _records(node, "status", "conditions"):
        if condition.get("type") == "Ready":
            ready = condition  # the last Ready condition wins, as in the real printer's map
    states = ["Unknown"] if ready is None else ["Ready" if ready.get("status") == "True" else "NotReady"]
    if _dig(node, "spec", "unschedulable") is True:
        states.append("SchedulingDisabled")
    return ",".join(states)


def _node_roles(node: JSON) -> str:
    roles: set[str] = set()
    for key, value in _mapping(node, "metadata", "labels").items():
        if key.startswith(_NODE_ROLE_PREFIX) and key.removeprefix(_NODE_ROLE_PREFIX):
            roles.add(key.removeprefix(_NODE_ROLE_PREFIX))
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    return ",".join(sorted(roles)) or "<none>"


def _node_address(node: JSON, address_type: str) -> str:
    for address in _records(node, "status", "addresses"):
        if address.get("type") == address_type:
            return _text(address, "address")
    return "<none>"


def _node_cells(node: JSON, now: float) -> list[Cell]:
    info = _mapping(node, "status", "nodeInfo")
    return [
        _name(node),
        _node_status(node),
        _node_roles(node),
        _age(node, now),
        _text(info, "kubeletVersion"),
        _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"),
        _text(info, "osImage") or "<unknown>",
        _text(info, "kernelVersion") or "<unknown>",
        _text(info, "containerRuntimeVersion") or "<unknown>",
    ]


def _event_cells(event: JSON, now: float) -> list[Cell]:
    """printEvent for a core/v1 Event (wide cells included, as the server always sends them)."""
    first_seen = _since(event.get("firstTimestamp"), now)
    if _instant(event.get("firstTimestamp")) is None:
        first_seen = _since(event.get("eventTime"), now)
    last_seen = _since(event.get("lastTimestamp"), now)
    if _instant(event.get("lastTimestamp")) is None:
        last_seen = first_seen
    count = _integer(event, "count")
    series = event.get("series")
    if isinstance(series, dict):
        last_seen = _since(series.get("lastObservedTime"), now)
        count = _integer(series, "count")
    elif count == 0:
        count = 1  # singleton events of the events.k8s.io API carry no count
    involved = _mapping(event, "involvedObject")
    kind = _text(involved, "kind").lower()
    target = f"{kind}/{_text(involved, 'name')}" if _text(involved, "name") else kind
    component = _text(event, "source", "component") or _text(event, "reportingComponent")
    instance = _text(event, "source", "host") or _text(event, "reportingInstance")
    return [
        last_seen,
        _text(event, "type"),
        _text(event, "reason"),
        target,
        _text(involved, "fieldPath"),
        f"{component}, {instance}" if instance else component,
        _text(event, "message").strip(),
        first_seen,
        count,
        _name(event),
    ]


# events.k8s.io/v1 field -> the core/v1 field it is stored as (both versions share one printer).
_EVENTS_V1_TO_CORE: Final = {
    "regarding": "involvedObject",
    "note": "message",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
    "reportingController": "reportingComponent",
}


def _events_v1_cells(event: JSON, now: float) -> list[Cell]:
    core_event = {_EVENTS_V1_TO_CORE.get(key, key): value for key, value in event.items()}
    return _event_cells(core_event, now)


def _namespace_cells(namespace: JSON, now: float) -> list[Cell]:
    return [_name(namespace), _text(namespace, "status", "phase"), _age(namespace, now)]


def _lease_cells(lease: JSON, now: float) -> list[Cell]:
    return [_name(lease), _text(lease, "spec", "holderIdentity"), _age(lease, now)]


def _priority_class_cells(priority_class: JSON, now: float) -> list[Cell]:
    return [
        _name(priority_class),
        _integer(priority_class, "value"),
        priority_class.get("globalDefault") is True,
        _age(priority_class, now),
        _text(priority_class, "preemptionPolicy"),
    ]


# ---------------------------------------------------------------------------------------------
# Configuration, storage, access control
# ---------------------------------------------------------------------------------------------


def _config_map_cells(config_map: JSON, now: float) -> list[Cell]:
    data = len(_mapping(config_map, "data")) + len(_mapping(config_map, "binaryData"))
    return [_name(config_map), data, _age(config_map, now)]


def _secret_cells(secret: JSON, now: float) -> list[Cell]:
    return [_name(secret), _text(secret, "type"), len(_mapping(secret, "data")), _age(secret, now)]


def _name_and_age_cells(obj: JSON, now: float) -> list[Cell]:
    return [_name(obj), _age(obj, now)]


def _resource_quota_cells(quota: JSON, now: float) -> list[Cell]:
    hard, used = _mapping(quota, "status", "hard"), _mapping(quota, "status", "used")
    requests: list[str] = []
    limits: list[str] = []
    for resource in sorted(hard):
        column = limits if resource.split(".")[0] == "limits" and "." in resource else requests
        column.append(f"{resource}: {format_quantity(used.get(resource))}/{format_quantity(hard[resource])}")
    return [_name(quota), ", ".join(requests), ", ".join(limits), _age(quota, now)]


# helper.GetAccessModesAsString: fixed order, duplicates dropped.
_ACCESS_MODE_ABBREVIATIONS: Final = (
    ("ReadWriteOnce", "RWO"),
    ("ReadOnlyMany", "ROX"),
    ("ReadWriteMany", "RWX"),
    ("ReadWriteOncePod", "RWOP"),
)
_BETA_STORAGE_CLASS_ANNOTATION: Final = "volume.beta.kubernetes.io/storage-class"


def _access_modes(modes: list[str]) -> str:
    return ",".join(short for mode, short in _ACCESS_MODE_ABBREVIATIONS if mode in modes)


def _storage_class_of(obj: JSON) -> str:
    annotations = _mapping(obj, "metadata", "annotations")
    if _BETA_STORAGE_CLASS_ANNOTATION in annotations:
        return str(annotations[_BETA_STORAGE_CLASS_ANNOTATION])
    return _text(obj, "spec", "storageClassName")


def _phase_or_terminating(obj: JSON) -> str:
    return "Terminating" if _present(obj, "metadata", "deletionTimestamp") else _text(obj, "status", "phase")


def _optional_text(obj: JSON, *keys: str) -> str:
    return _text(obj, *keys) if _present(obj, *keys) else "<unset>"


def _persistent_volume_cells(volume: JSON, now: float) -> list[Cell]:
    spec = _mapping(volume, "spec")
    claim = _mapping(spec, "claimRef")
    claim_text = f"{_text(claim, 'namespace')}/{_text(claim, 'name')}" if _present(spec, "claimRef") else ""
    return [
        _name(volume),
        format_quantity(_dig(spec, "capacity", "storage")),
        _access_modes(_strings(spec, "accessModes")),
        _text(spec, "persistentVolumeReclaimPolicy"),
        _phase_or_terminating(volume),
        claim_text,
        _storage_class_of(volume),
        _optional_text(spec, "volumeAttributesClassName"),
        _text(volume, "status", "reason"),
        _age(volume, now),
        _optional_text(spec, "volumeMode"),
    ]


def _persistent_volume_claim_cells(claim: JSON, now: float) -> list[Cell]:
    spec, status = _mapping(claim, "spec"), _mapping(claim, "status")
    bound = bool(_text(spec, "volumeName"))  # capacity and modes show once a volume is bound
    return [
        _name(claim),
        _phase_or_terminating(claim),
        _text(spec, "volumeName"),
        format_quantity(_dig(status, "capacity", "storage")) if bound else "",
        _access_modes(_strings(status, "accessModes")) if bound else "",
        _storage_class_of(claim),
        _optional_text(spec, "volumeAttributesClassName"),
        _age(claim, now),
        _optional_text(spec, "volumeMode"),
    ]


_DEFAULT_CLASS_ANNOTATIONS: Final = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def _storage_class_cells(storage_class: JSON, now: float) -> list[Cell]:
    annotations = _mapping(storage_class, "metadata", "annotations")
    is_default = any(annotations.get(key) == "true" for key in _DEFAULT_CLASS_ANNOTATIONS)
    return [
        _name(storage_class) + (" (default)" if is_default else ""),
        _text(storage_class, "provisioner"),
        _text(storage_class, "reclaimPolicy") or "Delete",
        _text(storage_class, "volumeBindingMode") or "Immediate",
        storage_class.get("allowVolumeExpansion") is True,
        _age(storage_class, now),
    ]


def _role_binding_cells(binding: JSON, now: float) -> list[Cell]:
    """printRoleBinding / printClusterRoleBinding, with rbac.SubjectsStrings for the wide cells."""
    users: list[str] = []
    groups: list[str] = []
    service_accounts: list[str] = []
    for subject in _records(binding, "subjects"):
        kind, name = _text(subject, "kind"), _text(subject, "name")
        if kind == "ServiceAccount":
            service_accounts.append(f"{_text(subject, 'namespace')}/{name}")
        elif kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
    role = _mapping(binding, "roleRef")
    return [
        _name(binding),
        f"{_text(role, 'kind')}/{_text(role, 'name')}",
        _age(binding, now),
        ", ".join(users),
        ", ".join(groups),
        ", ".join(service_accounts),
    ]


def _created_at_cells(obj: JSON, now: float) -> list[Cell]:
    """The default table convertor of k8s.io/apiserver: name and RFC 3339 creation time."""
    created = _instant(_dig(obj, "metadata", "creationTimestamp"))
    if created is None:
        return [_name(obj), "0001-01-01T00:00:00Z"]
    return [_name(obj), _format_rfc3339(created)]


def _format_rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.floor(epoch)))


# ---------------------------------------------------------------------------------------------
# Custom resources: additionalPrinterColumns and the JSONPath subset they use
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Index:
    position: int


@dataclass(frozen=True)
class _Every:
    """`[*]`: every element of a list."""


@dataclass(frozen=True)
class _Filter:
    """`[?(@.type=="Ready")]`: the list elements whose sub-path compares to a literal."""

    path: tuple[_Step, ...]
    equal: bool
    literal: str | int | float | bool


_Step = _Field | _Index | _Every | _Filter

_FILTER = re.compile(
    r"""^\?\(\s*@(?P<path>\S*?)\s*(?P<op>==|!=)\s*"""
    r"""(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<num>-?\d+(?:\.\d+)?)|(?P<bool>true|false))\s*\)$"""
)


def parse_jsonpath(path: str) -> tuple[_Step, ...] | None:
    """Parse the JSONPath subset CRD printer columns use; None for anything outside it.

    Supported: `.a.b`, `.a[0]`, `.a[-1]`, `.a[*].b`, `.a['dotted.key']`, `.a.dotted\\.key` and
    `.a[?(@.type=="Ready")].status` (== and != against a string, number or boolean).
    """
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    text = text.removeprefix("$")
    steps: list[_Step] = []
    position = 0
    while position < len(text):
        if text[position] == ".":
            name, position = _read_field_name(text, position + 1)
            if not name:
                return None  # ".." (recursive descent) is not supported
            steps.append(_Field(name))
        elif text[position] == "[":
            end = _closing_bracket(text, position)
            step = _parse_bracket(text[position + 1 : end].strip()) if end > 0 else None
            if step is None:
                return None
            steps.append(step)
            position = end + 1
        else:
            return None
    return tuple(steps)


def _read_field_name(text: str, position: int) -> tuple[str, int]:
    name: list[str] = []
    while position < len(text) and text[position] not in ".[":
        if text[position] == "\\" and position + 1 < len(text):
            position += 1  # "\." keeps a dot inside a key such as app\.kubernetes\.io/name
        name.append(text[position])
        position += 1
    return "".join(name), position


def _closing_bracket(text: str, start: int) -> int:
    quote = ""
    for position in range(start + 1, len(text)):
        char = text[position]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "]":
            return position
    return -1


def _parse_bracket(inner: str) -> _Step | None:
    if inner == "*":
        return _Every()
    if re.fullmatch(r"-?\d+", inner):
        return _Index(int(inner))
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return _Field(inner[1:-1])
    match = _FILTER.match(inner)
    if match is None:
        return None
    sub_path = parse_jsonpath(match["path"])
    if sub_path is None:
        return None
    literal: str | int | float | bool
    if match["bool"] is not None:
        literal = match["bool"] == "true"
    elif match["num"] is not None:
        literal = float(match["num"]) if "." in match["num"] else int(match["num"])
    else:
        literal = match["dq"] if match["dq"] is not None else match["sq"]
    return _Filter(sub_path, match["op"] == "==", literal)


def evaluate_jsonpath(steps: tuple[_Step, ...], data: Any) -> list[Any]:
    """Every value the path reaches; missing keys and indexes yield nothing (AllowMissingKeys)."""
    values = [data]
    for step in steps:
        values = [found for value in values for found in _apply(step, value)]
    return values


def _apply(step: _Step, value: Any) -> list[Any]:
    if isinstance(step, _Field):
        return [value[step.name]] if isinstance(value, dict) and step.name in value else []
    if not isinstance(value, list):
        return []
    if isinstance(step, _Index):
        return [value[step.position]] if -len(value) <= step.position < len(value) else []
    if isinstance(step, _Every):
        return list(value)
    return [item for item in value if _filter_matches(step, item)]


def _filter_matches(step: _Filter, item: Any) -> bool:
    found = evaluate_jsonpath(step.path, item)
    if not found:
        return False
    same = _same_json_value(found[0], step.literal)
    return same if step.equal else not same


def _same_json_value(value: Any, literal: str | int | float | bool) -> bool:
    # JSON booleans are not numbers, although Python's bool is an int.
    if isinstance(value, bool) or isinstance(literal, bool):
        return isinstance(value, bool) and isinstance(literal, bool) and value == literal
    return bool(value == literal)


def _go_float_text(value: float) -> str:
    """fmt.Sprint of a float64 (%v): shortest digits, exponent form below 1e-4 and from 1e6 on."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    decimal = Decimal(repr(value)).normalize()
    exponent = decimal.adjusted()
    if -4 <= exponent < 6:
        return format(decimal, "f")
    digits = "".join(map(str, decimal.as_tuple().digits))
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    sign = "-" if value < 0 else ""
    return f"{sign}{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"


def _jsonpath_text(value: Any) -> Cell:
    """How the JSONPath printer writes a value into a "string" column."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float_text(value)
    # Maps and lists print as compact JSON with sorted keys and Go's HTML escaping.
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _typed_cell(column_type: str, value: Any, now: float) -> Cell:
    """cellForJSONValue of the apiextensions table convertor."""
    if column_type == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if column_type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if column_type == "boolean" and isinstance(value, bool):
        return value
    if column_type == "date" and isinstance(value, str):
        if value in ("", "null"):
            return "<unknown>"
        instant = parse_timestamp(value)
        if instant is None:
            return "<invalid>"
        return "<unknown>" if instant == _ZERO_TIME else human_duration(now - instant)
    return None


def _custom_column_cell(column_type: str, steps: tuple[_Step, ...] | None, obj: JSON, now: float) -> Cell:
    found = evaluate_jsonpath(steps, obj) if steps is not None else []
    if not found:
        return None
    # Only the first match is shown, even for paths such as .spec.containers[*].image.
    if column_type == "string":
        return _jsonpath_text(found[0])
    return _typed_cell(column_type, found[0], now)


# ---------------------------------------------------------------------------------------------
# Column descriptions. The real printers take most of them from the API's field documentation
# (SwaggerDoc); these are the same texts, as published in the v1 OpenAPI schema.
# ---------------------------------------------------------------------------------------------

_FIELD_DOCS: Final[dict[str, str]] = {
    "clusterRoleBinding.roleRef": (
        "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot "
        "be resolved, the Authorizer must return an error."
    ),
    "configMap.data": (
        "Data contains the configuration data. Each key must consist of alphanumeric characters, "
        "'-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The"
        " keys stored in Data must not overlap with the keys in the BinaryData field, this is "
        "enforced during validation process."
    ),
    "controllerRevision.revision": ("Revision indicates the revision of the state represented by Data."),
    "cronJobSpec.schedule": ("The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    "cronJobSpec.suspend": (
        "This flag tells the controller to suspend subsequent executions, it does not apply to "
        "already started executions.\n\nDefaults to false."
    ),
    "cronJobSpec.timeZone": (
        "The time zone name for the given schedule, see "
        "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this "
        "will default to the time zone of the kube-controller-manager process. The set of valid "
        "time zone names and the time zone offset is loaded from the system-wide time zone "
        "database by the API server during CronJob validation and the controller manager during "
        "execution. If no system-wide time zone database can be found a bundled version of the "
        "database is used instead. If the time zone name becomes invalid during the lifetime of a"
        " CronJob or due to a change in host configuration, the controller will stop creating new"
        " new Jobs and will create a system event with the reason UnknownTimeZone. More "
        "information can be found in "
        "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones"
    ),
    "cronJobStatus.active": ("A list of pointers to currently running jobs."),
    "cronJobStatus.lastScheduleTime": (
        "Information when was the last time the job was successfully scheduled."
    ),
    "deploymentSpec.selector": (
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be "
        "the ones affected by this deployment. It must match the pod template's labels."
    ),
    "deploymentStatus.availableReplicas": (
        "Total number of available non-terminating pods (ready for at least minReadySeconds) "
        "targeted by this deployment."
    ),
    "deploymentStatus.updatedReplicas": (
        "Total number of non-terminating pods targeted by this deployment that have the desired "
        "template spec."
    ),
    "dsSpec.selector": (
        "A label query over pods that are managed by the daemon set. Must match in order to be "
        "controlled. It must match the pod template's labels. More info: https://kubernetes.io/do"
        "cs/concepts/overview/working-with-objects/labels/#label-selectors"
    ),
    "dsStatus.currentNumberScheduled": (
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the "
        "daemon pod. More info: "
        "https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"
    ),
    "dsStatus.desiredNumberScheduled": (
        "The total number of nodes that should be running the daemon pod (including nodes "
        "correctly running the daemon pod). More info: "
        "https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"
    ),
    "dsStatus.numberAvailable": (
        "The number of nodes that should be running the daemon pod and have one or more of the "
        "daemon pod running and available (ready for at least spec.minReadySeconds)"
    ),
    "dsStatus.numberReady": (
        "numberReady is the number of nodes that should be running the daemon pod and have one or"
        " more of the daemon pod running with a Ready Condition."
    ),
    "dsStatus.updatedNumberScheduled": ("The total number of nodes that are running updated daemon pod"),
    "endpointSlice.addressType": (
        "addressType specifies the type of address carried by this EndpointSlice. All addresses "
        "in this slice must be the same type. This field is immutable after creation. The "
        "following address types are currently supported: * IPv4: Represents an IPv4 Address. * "
        "IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name. "
        "(Deprecated) The EndpointSlice controller only generates, and kube-proxy only processes,"
        ' slices of addressType "IPv4" and "IPv6". No semantics are defined for the "FQDN" type.'
    ),
    "endpointSlice.endpoints": (
        "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum "
        "of 1000 endpoints."
    ),
    "endpointSlice.ports": (
        "ports specifies the list of network ports exposed by each endpoint in this slice. Each "
        "port must have a unique name. Each slice may include a maximum of 100 ports. Services "
        "always have at least 1 port, so EndpointSlices generated by the EndpointSlice controller"
        " will likewise always have at least 1 port. EndpointSlices used for other purposes may "
        "have an empty ports list."
    ),
    "endpoints.subsets": (
        "The set of all endpoints is the union of all subsets. Addresses are placed into subsets "
        "according to the IPs they share. A single address with multiple ports, some of which are"
        " ready and some of which are not (because they come from different containers) will "
        "result in the address being displayed in different subsets for the different ports. No "
        "address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of "
        "addresses and ports that comprise a service."
    ),
    "event.count": ("The number of times this event has occurred."),
    "event.firstTimestamp": (
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"
    ),
    "event.involvedObject": ("The object that this event is about."),
    "event.lastTimestamp": ("The time at which the most recent occurrence of this event was recorded."),
    "event.message": ("A human-readable description of the status of this operation."),
    "event.reason": (
        "This should be a short, machine understandable string that gives the reason for the "
        "transition into the object's current status."
    ),
    "event.source": ("The component reporting this event. Should be a short machine understandable string."),
    "event.type": ("Type of this event (Normal, Warning), new types could be added in the future"),
    "hpaSpec.maxReplicas": (
        "maxReplicas is the upper limit for the number of replicas to which the autoscaler can "
        "scale up. It cannot be less that minReplicas."
    ),
    "hpaSpec.metrics": (
        "metrics contains the specifications for which to use to calculate the desired replica "
        "count (the maximum replica count across all metrics will be used).\n\nThe desired replica "
        "count is calculated multiplying the ratio between the target value and the current value"
        " by the current number of pods.\n\nErgo, metrics used must decrease as the pod count is "
        "increased, and vice-versa.\n\nSee the individual metric source types for more information "
        "about how each type of metric must respond. If not set, the default metric will be set "
        "to 80% average CPU utilization."
    ),
    "hpaSpec.minReplicas": (
        "minReplicas is the lower limit for the number of replicas to which the autoscaler can "
        "scale down.\n\nIt defaults to 1 pod.\n\nminReplicas is allowed to be 0 if the alpha feature "
        "gate HPAScaleToZero is enabled and at least one Object or External metric is configured."
        "\n\nScaling is active as long as at least one metric value is available."
    ),
    "hpaSpec.scaleTargetRef": (
        "scaleTargetRef points to the target resource to scale, and is used to the pods for which"
        " metrics should be collected, as well as to actually change the replica count."
    ),
    "hpaStatus.currentReplicas": (
        "currentReplicas is current number of replicas of pods managed by this autoscaler, as "
        "last seen by the autoscaler."
    ),
    "jobSpec.selector": (
        "A label query over pods that should match the pod count. Normally, the system sets this "
        "field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-obje"
        "cts/labels/#label-selectors"
    ),
    "jobStatus.succeeded": (
        "The number of pods which reached phase Succeeded. The value increases monotonically for "
        "a given spec. However, it may decrease in reaction to scale down of elastic indexed "
        "jobs."
    ),
    "leaseSpec.holderIdentity": (
        "holderIdentity contains the identity of the holder of a current lease. If Coordinated "
        "Leader Election is used, the holder identity must be equal to the elected "
        "LeaseCandidate.metadata.name field."
    ),
    "meta.creationTimestamp": (
        "CreationTimestamp is a timestamp representing the server time when this object was "
        "created. It is not guaranteed to be set in happens-before order across separate "
        "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
        "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/"
        "community/contributors/devel/sig-architecture/api-conventions.md#metadata"
    ),
    "meta.name": (
        "Name must be unique within a namespace. Is required when creating resources, although "
        "some resources may allow a client to request the generation of an appropriate name "
        "automatically. Name is primarily intended for creation idempotence and configuration "
        "definition. Cannot be updated. More info: "
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
    ),
    "networkPolicySpec.podSelector": (
        "Selects the pods to which this NetworkPolicy object applies. The array of ingress rules "
        "is applied to any pods selected by this field. Multiple network policies can select the "
        "same set of pods. In this case, the ingress rules for each are combined additively. This"
        " field is NOT optional and follows standard label selector semantics. An empty "
        "podSelector matches all pods in this namespace."
    ),
    "nodeInfo.containerRuntimeVersion": (
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."
    ),
    "nodeInfo.kernelVersion": (
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."
    ),
    "nodeInfo.kubeletVersion": ("Kubelet Version reported by the node."),
    "nodeInfo.osImage": (
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."
    ),
    "nodeStatus.addresses": (
        "List of addresses reachable to the node. Queried from cloud provider, if available. More"
        " info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field"
        " is declared as mergeable, but the merge key is not sufficiently unique, which can cause"
        " data corruption when it is merged. Callers should instead use a full-replacement patch."
        " See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can "
        "change during the lifetime of a Node. However, there are some exceptions where this may "
        "not be possible, such as Pods that inherit a Node's address in its own status or "
        "consumers of the downward API (status.hostIP)."
    ),
    "objectReference.fieldPath": (
        "If referring to a piece of an object instead of an entire object, this string should "
        "contain a valid JSON/Go field access statement, such as "
        "desiredState.manifest.containers[2]. For example, if the object reference is to a "
        'container within a pod, this would take on a value like: "spec.containers{name}" (where '
        '"name" refers to the name of the container that triggered the event) or if no container '
        'name is specified "spec.containers[2]" (container with index 2 in this pod). This syntax'
        " is chosen only to have some well-defined way of referencing a part of an object."
    ),
    "podSpec.nodeName": (
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a "
        "candidate for scheduling by the scheduler defined in schedulerName. Once this field is "
        "set, the kubelet for this node becomes responsible for the lifecycle of this pod. This "
        "field should not be used to express a desire for the pod to be scheduled on a specific "
        "node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename"
    ),
    "podSpec.nodeSelector": (
        "NodeSelector is a selector which must be true for the pod to fit on a node. Selector "
        "which must match a node's labels for the pod to be scheduled on that node. More info: "
        "https://kubernetes.io/docs/concepts/configuration/assign-pod-node/"
    ),
    "podSpec.readinessGates": (
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready "
        "when all its containers are ready AND all conditions specified in the readiness gates "
        'have status equal to "True" More info: '
        "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates"
    ),
    "podStatus.nominatedNodeName": (
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it "
        "cannot be scheduled right away as preemption victims receive their graceful termination "
        "periods. This field does not guarantee that the pod will be scheduled on this node. "
        "Scheduler may decide to place the pod elsewhere if other nodes become available sooner. "
        "Scheduler may also decide to give the resources on this node to a higher priority pod "
        "that is created after preemption. As a result, this field may be different than "
        "PodSpec.nodeName when the pod is scheduled."
    ),
    "podStatus.podIP": (
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not "
        "yet allocated."
    ),
    "priorityClass.globalDefault": (
        "globalDefault specifies whether this PriorityClass should be considered as the default "
        "priority for pods that do not have any priority class. Only one PriorityClass can be "
        "marked as `globalDefault`. However, if more than one PriorityClasses exists with their "
        "`globalDefault` field set to true, the smallest value of such global default "
        "PriorityClasses will be used as the default priority."
    ),
    "priorityClass.preemptionPolicy": (
        "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, "
        "PreemptLowerPriority. Defaults to PreemptLowerPriority if unset."
    ),
    "priorityClass.value": (
        "value represents the integer value of this priority class. This is the actual priority "
        "that pods receive when they have the name of this class in their pod spec."
    ),
    "pvSpec.accessModes": (
        "accessModes contains all ways the volume can be mounted. More info: "
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes"
    ),
    "pvSpec.capacity": (
        "capacity is the description of the persistent volume's resources and capacity. More "
        "info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity"
    ),
    "pvSpec.claimRef": (
        "claimRef is part of a bi-directional binding between PersistentVolume and "
        "PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the "
        "authoritative bind between PV and PVC. More info: "
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding"
    ),
    "pvSpec.persistentVolumeReclaimPolicy": (
        "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released "
        "from its claim. Valid options are Retain (default for manually created "
        "PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and "
        "Recycle (deprecated). Recycle must be supported by the volume plugin underlying this "
        "PersistentVolume. More info: "
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming"
    ),
    "pvSpec.volumeMode": (
        "volumeMode defines if a volume is intended to be used with a formatted filesystem or to "
        "remain in raw block state. Value of Filesystem is implied when not included in spec."
    ),
    "pvStatus.phase": (
        "phase indicates if a volume is available, bound to a claim, or released by a claim. More"
        " info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase"
    ),
    "pvStatus.reason": (
        "reason is a brief CamelCase string that describes any failure and is meant for machine "
        "parsing and tidy display in the CLI."
    ),
    "pvcSpec.volumeMode": (
        "volumeMode defines what type of volume is required by the claim. Value of Filesystem is "
        "implied when not included in claim spec."
    ),
    "pvcSpec.volumeName": ("volumeName is the binding reference to the PersistentVolume backing this claim."),
    "pvcStatus.accessModes": (
        "accessModes contains the actual access modes the volume backing the PVC has. More info: "
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1"
    ),
    "pvcStatus.capacity": ("capacity represents the actual resources of the underlying volume."),
    "pvcStatus.phase": ("phase represents the current phase of PersistentVolumeClaim."),
    "rcSpec.replicas": (
        "Replicas is the number of desired replicas. This is a pointer to distinguish between "
        "explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/conc"
        "epts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller"
    ),
    "rcSpec.selector": (
        "Selector is a label query over pods that should match the Replicas count. If Selector is"
        " empty, it is defaulted to the labels present on the Pod template. Label keys and values"
        " that must match in order to be controlled by this replication controller, if empty "
        "defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/over"
        "view/working-with-objects/labels/#label-selectors"
    ),
    "rcStatus.readyReplicas": ("The number of ready replicas for this replication controller."),
    "rcStatus.replicas": (
        "Replicas is the most recently observed number of replicas. More info: https://kubernetes"
        ".io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontr"
        "oller"
    ),
    "roleBinding.roleRef": (
        "RoleRef can reference a Role in the current namespace or a ClusterRole in the global "
        "namespace. If the RoleRef cannot be resolved, the Authorizer must return an error."
    ),
    "rsSpec.replicas": (
        "Replicas is the number of desired pods. This is a pointer to distinguish between "
        "explicit zero and unspecified. Defaults to 1. More info: "
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicaset"
    ),
    "rsSpec.selector": (
        "Selector is a label query over pods that should match the replica count. Label keys and "
        "values that must match in order to be controlled by this replica set. It must match the "
        "pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-w"
        "ith-objects/labels/#label-selectors"
    ),
    "rsStatus.readyReplicas": (
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition."
    ),
    "rsStatus.replicas": (
        "Replicas is the most recently observed number of non-terminating pods. More info: "
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicaset"
    ),
    "secret.data": (
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', "
        "'_' or '.'. The serialized form of the secret data is a base64 encoded string, "
        "representing the arbitrary (possibly non-string) data value here. Described in "
        "https://tools.ietf.org/html/rfc4648#section-4"
    ),
    "secret.type": (
        "Used to facilitate programmatic handling of secret data. More info: "
        "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"
    ),
    "serviceSpec.clusterIP": (
        "clusterIP is the IP address of the service and is usually assigned randomly. If an "
        "address is specified manually, is in-range (as per system configuration), and is not in "
        "use, it will be allocated to the service; otherwise creation of the service will fail. "
        "This field may not be changed through updates unless the type field is also being "
        "changed to ExternalName (which requires this field to be blank) or the type field is "
        "being changed from ExternalName (in which case this field may optionally be specified, "
        'as describe above).\n\nValid values are "None", empty string (""), or a valid IP address. '
        'Setting this to "None" makes a "headless service" (no virtual IP), which is useful when '
        "direct endpoint connections are preferred and proxying is not required.\n\nOnly applies to"
        " types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a"
        " Service of type ExternalName, creation will fail. This field will be wiped when "
        "updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/"
        "services-networking/service/#virtual-ips-and-service-proxies"
    ),
    "serviceSpec.externalIPs": (
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
        "traffic for this service.\n\nThese IPs are not managed by Kubernetes.\n\nThe user is "
        "responsible for ensuring that traffic arrives at a node with this IP.\n\nA common example "
        "is external load-balancers that are not part of the Kubernetes system."
    ),
    "serviceSpec.ports": (
        "The list of ports that are exposed by this service. More info: https://kubernetes.io/doc"
        "s/concepts/services-networking/service/#virtual-ips-and-service-proxies"
    ),
    "serviceSpec.selector": (
        "Route service traffic to pods with label keys and values matching this selector. If "
        "empty or not present, the service is assumed to have an external process managing its "
        "endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, "
        "and LoadBalancer. Ignored if type is ExternalName. More info: "
        "https://kubernetes.io/docs/concepts/services-networking/service/"
    ),
    "serviceSpec.type": (
        "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are "
        'ExternalName, ClusterIP, NodePort, and LoadBalancer. "ClusterIP" allocates a '
        "cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by"
        " the selector or if that is not specified, by manual construction of an Endpoints object"
        ' or EndpointSlice objects. If clusterIP is "None", no virtual IP is allocated and the '
        'endpoints are published as a set of endpoints rather than a virtual IP. "NodePort" '
        "builds on ClusterIP and allocates a port on every node which routes to the same "
        'endpoints as the clusterIP. "LoadBalancer" builds on NodePort and creates an external '
        "load-balancer (if supported in the current cloud) which routes to the same endpoints as "
        'the clusterIP. "ExternalName" aliases this service to the specified externalName. '
        "Several other fields do not apply to ExternalName services. More info: https://kubernete"
        "s.io/docs/concepts/services-networking/service/#publishing-services-service-types"
    ),
    "storageClass.allowVolumeExpansion": (
        "allowVolumeExpansion shows whether the storage class allow volume expand."
    ),
    "storageClass.provisioner": ("provisioner indicates the type of the provisioner."),
    "storageClass.reclaimPolicy": (
        "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes "
        "of this storage class. Defaults to Delete."
    ),
    "storageClass.volumeBindingMode": (
        "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound."
        "\n\nWhen unset, VolumeBindingImmediate is used. This field is only honored by servers that"
        " enable the VolumeScheduling feature."
    ),
}


# ---------------------------------------------------------------------------------------------
# Column definitions and the printer of each built-in kind
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One `meta.k8s.io/v1` TableColumnDefinition."""

    name: str
    description: str
    type: str = "string"
    priority: int = 0
    format: str = ""

    def definition(self) -> JSON:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


@dataclass(frozen=True)
class _Printer:
    columns: tuple[Column, ...]
    cells: CellsFn
    row_conditions: Callable[[JSON], list[JSON]] | None = None


def _doc(name: str, key: str, *, type_: str = "string", priority: int = 0) -> Column:
    """A column described by the API documentation of the field it shows."""
    return Column(name, _FIELD_DOCS[key], type=type_, priority=priority)


_NAME: Final = Column("Name", _FIELD_DOCS["meta.name"], format="name")
_AGE: Final = _doc("Age", "meta.creationTimestamp")
_TEMPLATE_CONTAINERS: Final = (
    Column("Containers", "Names of each container in the template.", priority=1),
    Column("Images", "Images referenced by each container in the template.", priority=1),
)
_READY_PODS: Final = Column("Ready", "Number of the pod with ready state")


def _binding_columns(kind: str) -> tuple[Column, ...]:
    return (
        _NAME,
        _doc("Role", f"{kind}.roleRef"),
        _AGE,
        Column("Users", f"Users in the {kind}", priority=1),
        Column("Groups", f"Groups in the {kind}", priority=1),
        Column("ServiceAccounts", f"ServiceAccounts in the {kind}", priority=1),
    )


_EVENT_COLUMNS: Final = (
    _doc("Last Seen", "event.lastTimestamp"),
    _doc("Type", "event.type"),
    _doc("Reason", "event.reason"),
    _doc("Object", "event.involvedObject"),
    _doc("Subobject", "objectReference.fieldPath", priority=1),
    _doc("Source", "event.source", priority=1),
    _doc("Message", "event.message"),
    _doc("First Seen", "event.firstTimestamp", priority=1),
    _doc("Count", "event.count", priority=1),
    Column("Name", _FIELD_DOCS["meta.name"], format="name", priority=1),
)

_PRINTERS: Final[dict[tuple[str, str], _Printer]] = {
    ("", "Pod"): _Printer(
        (
            _NAME,
            Column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
            Column("Status", "The aggregate status of the containers in this pod."),
            Column(
                "Restarts",
                "The number of times the containers in this pod have been restarted and when the last "
                "container in this pod has restarted.",
            ),
            _AGE,
            _doc("IP", "podStatus.podIP", priority=1),
            _doc("Node", "podSpec.nodeName", priority=1),
            _doc("Nominated Node", "podStatus.nominatedNodeName", priority=1),
            _doc("Readiness Gates", "podSpec.readinessGates", priority=1),
        ),
        _pod_cells,
        _pod_row_conditions,
    ),
    ("", "PodTemplate"): _Printer(
        (
            _NAME,
            Column("Containers", "Names of each container in the template."),
            Column("Images", "Images referenced by each container in the template."),
            Column("Pod Labels", "The labels for the pod template."),
        ),
        _pod_template_cells,
    ),
    ("", "ReplicationController"): _Printer(
        (
            _NAME,
            _doc("Desired", "rcSpec.replicas", type_="integer"),
            _doc("Current", "rcStatus.replicas", type_="integer"),
            _doc("Ready", "rcStatus.readyReplicas", type_="integer"),
            _AGE,
            *_TEMPLATE_CONTAINERS,
            _doc("Selector", "rcSpec.selector", priority=1),
        ),
        _replication_controller_cells,
    ),
    ("", "Service"): _Printer(
        (
            _NAME,
            _doc("Type", "serviceSpec.type"),
            _doc("Cluster-IP", "serviceSpec.clusterIP"),
            _doc("External-IP", "serviceSpec.externalIPs"),
            _doc("Port(s)", "serviceSpec.ports"),
            _AGE,
            _doc("Selector", "serviceSpec.selector", priority=1),
        ),
        _service_cells,
    ),
    ("", "Endpoints"): _Printer((_NAME, _doc("Endpoints", "endpoints.subsets"), _AGE), _endpoints_cells),
    ("", "Node"): _Printer(
        (
            _NAME,
            Column("Status", "The status of the node"),
            Column("Roles", "The roles of the node"),
            _AGE,
            _doc("Version", "nodeInfo.kubeletVersion"),
            _doc("Internal-IP", "nodeStatus.addresses", priority=1),
            _doc("External-IP", "nodeStatus.addresses", priority=1),
            _doc("OS-Image", "nodeInfo.osImage", priority=1),
            _doc("Kernel-Version", "nodeInfo.kernelVersion", priority=1),
            _doc("Container-Runtime", "nodeInfo.containerRuntimeVersion", priority=1),
        ),
        _node_cells,
    ),
    ("", "Event"): _Printer(_EVENT_COLUMNS, _event_cells),
    ("events.k8s.io", "Event"): _Printer(_EVENT_COLUMNS, _events_v1_cells),
    ("", "Namespace"): _Printer(
        (_NAME, Column("Status", "The status of the namespace"), _AGE), _namespace_cells
    ),
    ("", "Secret"): _Printer(
        (_NAME, _doc("Type", "secret.type"), _doc("Data", "secret.data"), _AGE), _secret_cells
    ),
    ("", "ServiceAccount"): _Printer((_NAME, _AGE), _name_and_age_cells),
    ("", "ConfigMap"): _Printer((_NAME, _doc("Data", "configMap.data"), _AGE), _config_map_cells),
    ("", "PersistentVolume"): _Printer(
        (
            _NAME,
            _doc("Capacity", "pvSpec.capacity"),
            _doc("Access Modes", "pvSpec.accessModes"),
            _doc("Reclaim Policy", "pvSpec.persistentVolumeReclaimPolicy"),
            _doc("Status", "pvStatus.phase"),
            _doc("Claim", "pvSpec.claimRef"),
            Column("StorageClass", "StorageClass of the pv"),
            Column("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
            _doc("Reason", "pvStatus.reason"),
            _AGE,
            _doc("VolumeMode", "pvSpec.volumeMode", priority=1),
        ),
        _persistent_volume_cells,
    ),
    ("", "PersistentVolumeClaim"): _Printer(
        (
            _NAME,
            _doc("Status", "pvcStatus.phase"),
            _doc("Volume", "pvcSpec.volumeName"),
            _doc("Capacity", "pvcStatus.capacity"),
            _doc("Access Modes", "pvcStatus.accessModes"),
            Column("StorageClass", "StorageClass of the pvc"),
            Column("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
            _AGE,
            _doc("VolumeMode", "pvcSpec.volumeMode", priority=1),
        ),
        _persistent_volume_claim_cells,
    ),
    ("", "ResourceQuota"): _Printer(
        (
            _NAME,
            Column(
                "Request", "Request represents a minimum amount of cpu/memory that a container may consume."
            ),
            Column(
                "Limit",
                "Limits control the maximum amount of cpu/memory that a container may use independent of "
                "contention on the node.",
            ),
            _AGE,
        ),
        _resource_quota_cells,
    ),
    ("apps", "Deployment"): _Printer(
        (
            _NAME,
            _READY_PODS,
            _doc("Up-to-date", "deploymentStatus.updatedReplicas"),
            _doc("Available", "deploymentStatus.availableReplicas"),
            _AGE,
            *_TEMPLATE_CONTAINERS,
            _doc("Selector", "deploymentSpec.selector", priority=1),
        ),
        _deployment_cells,
    ),
    ("apps", "ReplicaSet"): _Printer(
        (
            _NAME,
            _doc("Desired", "rsSpec.replicas", type_="integer"),
            _doc("Current", "rsStatus.replicas", type_="integer"),
            _doc("Ready", "rsStatus.readyReplicas", type_="integer"),
            _AGE,
            *_TEMPLATE_CONTAINERS,
            _doc("Selector", "rsSpec.selector", priority=1),
        ),
        _replica_set_cells,
    ),
    ("apps", "StatefulSet"): _Printer((_NAME, _READY_PODS, _AGE, *_TEMPLATE_CONTAINERS), _stateful_set_cells),
    ("apps", "DaemonSet"): _Printer(
        (
            _NAME,
            _doc("Desired", "dsStatus.desiredNumberScheduled", type_="integer"),
            _doc("Current", "dsStatus.currentNumberScheduled", type_="integer"),
            _doc("Ready", "dsStatus.numberReady", type_="integer"),
            _doc("Up-to-date", "dsStatus.updatedNumberScheduled", type_="integer"),
            _doc("Available", "dsStatus.numberAvailable", type_="integer"),
            _doc("Node Selector", "podSpec.nodeSelector"),
            _AGE,
            *_TEMPLATE_CONTAINERS,
            _doc("Selector", "dsSpec.selector", priority=1),
        ),
        _daemon_set_cells,
    ),
    ("apps", "ControllerRevision"): _Printer(
        (
            _NAME,
            Column("Controller", "Controller of the object"),
            _doc("Revision", "controllerRevision.revision"),
            _AGE,
        ),
        _controller_revision_cells,
    ),
    ("batch", "Job"): _Printer(
        (
            _NAME,
            Column("Status", "Status of the job."),
            _doc("Completions", "jobStatus.succeeded"),
            Column("Duration", "Time required to complete the job."),
            _AGE,
            *_TEMPLATE_CONTAINERS,
            _doc("Selector", "jobSpec.selector", priority=1),
        ),
        _job_cells,
    ),
    ("batch", "CronJob"): _Printer(
        (
            _NAME,
            _doc("Schedule", "cronJobSpec.schedule"),
            _doc("Timezone", "cronJobSpec.timeZone"),
            _doc("Suspend", "cronJobSpec.suspend", type_="boolean"),
            _doc("Active", "cronJobStatus.active", type_="integer"),
            _doc("Last Schedule", "cronJobStatus.lastScheduleTime"),
            _AGE,
            *_TEMPLATE_CONTAINERS,
            _doc("Selector", "jobSpec.selector", priority=1),
        ),
        _cron_job_cells,
    ),
    ("autoscaling", "HorizontalPodAutoscaler"): _Printer(
        (
            _NAME,
            _doc("Reference", "hpaSpec.scaleTargetRef"),
            _doc("Targets", "hpaSpec.metrics"),
            _doc("MinPods", "hpaSpec.minReplicas"),
            _doc("MaxPods", "hpaSpec.maxReplicas"),
            _doc("Replicas", "hpaStatus.currentReplicas"),
            _AGE,
        ),
        _horizontal_pod_autoscaler_cells,
    ),
    ("policy", "PodDisruptionBudget"): _Printer(
        (
            _NAME,
            Column("Min Available", "The minimum number of pods that must be available."),
            Column("Max Unavailable", "The maximum number of pods that may be unavailable."),
            Column(
                "Allowed Disruptions",
                "Calculated number of pods that may be disrupted at this time.",
                type="integer",
            ),
            _AGE,
        ),
        _pod_disruption_budget_cells,
    ),
    ("networking.k8s.io", "Ingress"): _Printer(
        (
            _NAME,
            Column(
                "Class",
                "The name of the IngressClass resource that should be used for additional configuration",
            ),
            Column("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
            Column("Address", "Address is a list containing ingress points for the load-balancer"),
            Column("Ports", "Ports of TLS configurations that open"),
            _AGE,
        ),
        _ingress_cells,
    ),
    ("networking.k8s.io", "IngressClass"): _Printer(
        (
            _NAME,
            Column("Controller", "Controller that is responsible for handling this class"),
            Column("Parameters", "A reference to a resource with additional parameters"),
            _AGE,
        ),
        _ingress_class_cells,
    ),
    ("networking.k8s.io", "NetworkPolicy"): _Printer(
        (_NAME, _doc("Pod-Selector", "networkPolicySpec.podSelector"), _AGE), _network_policy_cells
    ),
    ("discovery.k8s.io", "EndpointSlice"): _Printer(
        (
            _NAME,
            _doc("AddressType", "endpointSlice.addressType"),
            _doc("Ports", "endpointSlice.ports"),
            _doc("Endpoints", "endpointSlice.endpoints"),
            _AGE,
        ),
        _endpoint_slice_cells,
    ),
    ("storage.k8s.io", "StorageClass"): _Printer(
        (
            _NAME,
            _doc("Provisioner", "storageClass.provisioner"),
            _doc("ReclaimPolicy", "storageClass.reclaimPolicy"),
            _doc("VolumeBindingMode", "storageClass.volumeBindingMode"),
            _doc("AllowVolumeExpansion", "storageClass.allowVolumeExpansion"),
            _AGE,
        ),
        _storage_class_cells,
    ),
    ("rbac.authorization.k8s.io", "RoleBinding"): _Printer(
        _binding_columns("roleBinding"), _role_binding_cells
    ),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _Printer(
        _binding_columns("clusterRoleBinding"), _role_binding_cells
    ),
    ("coordination.k8s.io", "Lease"): _Printer(
        (_NAME, _doc("Holder", "leaseSpec.holderIdentity"), _AGE), _lease_cells
    ),
    ("scheduling.k8s.io", "PriorityClass"): _Printer(
        (
            _NAME,
            _doc("Value", "priorityClass.value", type_="integer"),
            _doc("Global-Default", "priorityClass.globalDefault", type_="boolean"),
            _AGE,
            _doc("PreemptionPolicy", "priorityClass.preemptionPolicy"),
        ),
        _priority_class_cells,
    ),
}

# Built-in kinds without a printer (Role, ClusterRole, LimitRange, CustomResourceDefinition, ...)
# get the default table convertor of k8s.io/apiserver.
_CREATED_AT_PRINTER: Final = _Printer(
    (_NAME, Column("Created At", _FIELD_DOCS["meta.creationTimestamp"], type="date")), _created_at_cells
)


# A CRD version without additionalPrinterColumns is printed with this one.
_DEFAULT_PRINTER_COLUMNS: Final = (
    {
        "name": "Age",
        "type": "date",
        "description": _FIELD_DOCS["meta.creationTimestamp"],
        "jsonPath": ".metadata.creationTimestamp",
    },
)


def _custom_resource_printer(printer_columns: list[JSON] | tuple[JSON, ...]) -> _Printer:
    """The apiextensions table convertor for one CRD version."""
    columns = [_NAME]
    paths: list[tuple[str, tuple[_Step, ...] | None]] = []
    for spec in printer_columns or _DEFAULT_PRINTER_COLUMNS:
        json_path = _text(spec, "jsonPath")
        description = _text(spec, "description")
        description = description or f"Custom resource definition column (in JSONPath format): {json_path}"
        column_type = _text(spec, "type")
        columns.append(
            Column(
                _text(spec, "name"),
                description,
                type=column_type,
                priority=_integer(spec, "priority"),
                format=_text(spec, "format"),
            )
        )
        paths.append((column_type, parse_jsonpath(json_path)))

    def cells(obj: JSON, now: float) -> list[Cell]:
        return [_name(obj), *(_custom_column_cell(kind, steps, obj, now) for kind, steps in paths)]

    return _Printer(tuple(columns), cells)


def _printer_for(group: str, kind: str, printer_columns: list[JSON] | None) -> _Printer:
    if printer_columns is not None:
        return _custom_resource_printer(printer_columns)
    printer = _PRINTERS.get((group, kind))
    if printer is not None:
        return printer
    if group in BUILTIN_API_GROUPS:
        return _CREATED_AT_PRINTER
    return _custom_resource_printer(_DEFAULT_PRINTER_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------

_INCLUDE_OBJECT_POLICIES: Final = ("None", "Metadata", "Object", "")
_LIST_META_FIELDS: Final = ("resourceVersion", "continue", "remainingItemCount")


def build_table(
    group: str,
    kind: str,
    items: list[dict[str, Any]],
    *,
    now: float,
    include_object: str = "Metadata",
    list_meta: dict[str, Any] | None = None,
    printer_columns: list[dict[str, Any]] | None = None,
    cache_rows: bool = False,
) -> dict[str, Any]:
    """Render objects as the `meta.k8s.io/v1` Table a real kube-apiserver would return.

    `cache_rows` may be set when every object comes from a store where a (uid, resourceVersion)
    pair always names the same content: the time-independent cells of pod rows are then kept
    between calls, so repeated lists print only what changed.

    `group` and `kind` pick the printer ("" for the core group). `printer_columns`, when given,
    are a CRD version's additionalPrinterColumns (an empty list means "none declared"). `now` is
    the simulated clock in epoch seconds; every AGE-like cell is measured against it.
    `include_object` is the includeObject query parameter: "Metadata" (default, also for "")
    attaches a PartialObjectMetadata to each row, "Object" the object itself (shared, not copied),
    "None" nothing. Any other value raises ValueError, which the API answers with 400.
    """
    if include_object not in _INCLUDE_OBJECT_POLICIES:
        raise ValueError(f"unrecognized includeObject value: {include_object!r}")
    printer = _printer_for(group, kind, printer_columns)
    # ListMeta fields are omitted when empty; remainingItemCount is a pointer, so 0 still shows.
    given = list_meta or {}
    metadata = {key: given[key] for key in _LIST_META_FIELDS if given.get(key) not in (None, "")}
    caching = _CACHE_ROWS.set(cache_rows)
    try:
        rows = [_row(printer, item, now, include_object) for item in items]
    finally:
        _CACHE_ROWS.reset(caching)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [column.definition() for column in printer.columns],
        "rows": rows,
    }


def _row(printer: _Printer, item: JSON, now: float, include_object: str) -> JSON:
    row: JSON = {"cells": printer.cells(item, now)}
    conditions = printer.row_conditions(item) if printer.row_conditions else []
    if conditions:
        row["conditions"] = conditions
    if include_object == "Object":
        row["object"] = item
    elif include_object != "None":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            # Stored objects are never mutated, so the row can share the metadata dict.
            "metadata": _mapping(item, "metadata"),
        }
    return row

"""Deployments, ReplicaSets, DaemonSets and StatefulSets (pkg/apis/apps/validation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from .errors import Errors, GoEnum, GoStruct, child, each_invalid, forbidden, invalid, not_supported, required
from .fields import (
    JsonObject,
    as_int,
    as_list,
    as_map,
    as_text,
    non_negative,
    semantically_equal,
    spec_of,
    str_map,
)
from .formats import is_valid_percent
from .labels import (
    selector_is_empty,
    selector_matches,
    selector_parses,
    selector_value,
    validate_annotations,
    validate_label_selector,
    validate_labels,
)
from .metadata import IMMUTABLE
from .pods import template_restart_policy, validate_pod_template


def _int_or_string_value(value: object) -> object:
    """An IntOrString marshals to its int or to its JSON string."""
    return GoEnum(value) if isinstance(value, str) else value


def validate_int_or_percent(value: object, path: str) -> Errors:
    """ValidatePositiveIntOrPercent."""
    if isinstance(value, str):
        return each_invalid(path, GoEnum(value), is_valid_percent(value))
    return non_negative(path, value)


def not_more_than_100_percent(value: object, path: str) -> Errors:
    if isinstance(value, str) and not is_valid_percent(value) and int(value[:-1]) > 100:
        return [invalid(path, GoEnum(value), "must not be greater than 100%")]
    return []


def _int_or_percent_value(value: object) -> int:
    """getIntOrPercentValue: the number of an int or of a valid "N%", else 0."""
    if isinstance(value, str):
        return 0 if is_valid_percent(value) else int(value[:-1])
    return as_int(value) or 0


def _template_labels(template: JsonObject) -> tuple[dict[str, str], object]:
    """The template's labels, and how Go prints them as a bad value (a nil map is null)."""
    raw = as_map(template.get("metadata")).get("labels")
    labels = str_map(raw)
    return labels, (labels if isinstance(raw, dict) else None)


def selector_mismatch(selector: object, template: JsonObject, path: str, skip_empty: bool) -> Errors:
    """The "`selector` does not match template `labels`" check; a nil selector matches nothing."""
    labels, shown = _template_labels(template)
    if (skip_empty and selector_is_empty(selector)) or selector_matches(selector, labels):
        return []
    return [invalid(child(path, "metadata", "labels"), shown, "`selector` does not match template `labels`")]


def _validate_required_selector(spec: JsonObject, owner: str) -> Errors:
    """The selector checks of Deployment, ReplicaSet and StatefulSet specs."""
    selector = spec.get("selector")
    if selector is None:
        return [required("spec.selector")]
    errs = validate_label_selector(as_map(selector), "spec.selector")
    if selector_is_empty(selector):
        errs.append(
            invalid("spec.selector", selector_value(selector), f"empty selector is invalid for {owner}")
        )
    return errs


def _validate_always_restarting_template(template: JsonObject, path: str, owner: str) -> Errors:
    """The pod template of a controller that keeps its pods running (restartPolicy Always)."""
    errs = validate_pod_template(template, path)
    restart_policy = template_restart_policy(template)
    if restart_policy != "Always":
        errs.append(not_supported(child(path, "spec", "restartPolicy"), restart_policy, ["Always"]))
    if as_map(template.get("spec")).get("activeDeadlineSeconds") is not None:
        errs.append(
            forbidden(
                child(path, "spec", "activeDeadlineSeconds"),
                f"activeDeadlineSeconds in {owner} is not Supported",
            )
        )
    return errs


def _validate_replica_set_spec(spec: JsonObject, with_min_ready: bool) -> Errors:
    """ValidateReplicaSetSpec; a Deployment's spec runs the same checks (minReadySeconds later)."""
    errs = non_negative("spec.replicas", spec.get("replicas"))
    if with_min_ready:
        errs += non_negative("spec.minReadySeconds", spec.get("minReadySeconds"))
    # ReplicaSets reuse the Deployment wording for an empty selector.
    errs += _validate_required_selector(spec, "deployment")
    selector, template = spec.get("selector"), as_map(spec.get("template"))
    if not selector_parses(selector):
        return [*errs, invalid("spec.selector", selector_value(selector), "invalid label selector")]
    errs += selector_mismatch(selector, template, "spec.template", skip_empty=True)
    return errs + _validate_always_restarting_template(template, "spec.template", "ReplicaSet")


def validate_replica_set(obj: JsonObject, old: JsonObject | None) -> Errors:
    return _validate_replica_set_spec(as_map(obj.get("spec")), with_min_ready=True)


def _strategy_value(strategy: JsonObject, rolling_fields: Sequence[str]) -> GoStruct:
    # apps strategies are internal Go structs without JSON tags.
    rolling = strategy.get("rollingUpdate")
    rolling_value = (
        None
        if rolling is None
        else GoStruct({name[0].upper() + name[1:]: as_map(rolling).get(name) for name in rolling_fields})
    )
    return GoStruct(Type=as_text(strategy.get("type")), RollingUpdate=rolling_value)


def _validate_deployment_strategy(strategy: JsonObject, path: str) -> Errors:
    strategy_type = as_text(strategy.get("type")) or "RollingUpdate"
    if strategy_type == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            return [
                forbidden(
                    child(path, "rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"
                )
            ]
        return []
    if strategy_type != "RollingUpdate":
        value = _strategy_value(strategy, ("maxUnavailable", "maxSurge"))
        return [not_supported(path, value, ["Recreate", "RollingUpdate"])]
    rolling, rolling_path = as_map(strategy.get("rollingUpdate")), child(path, "rollingUpdate")
    max_unavailable = rolling.get("maxUnavailable", "25%")  # both default to 25%
    max_surge = rolling.get("maxSurge", "25%")
    errs = validate_int_or_percent(max_unavailable, child(rolling_path, "maxUnavailable"))
    errs += validate_int_or_percent(max_surge, child(rolling_path, "maxSurge"))
    if _int_or_percent_value(max_unavailable) == 0 and _int_or_percent_value(max_surge) == 0:
        errs.append(
            invalid(
                child(rolling_path, "maxUnavailable"),
                _int_or_string_value(max_unavailable),
                "may not be 0 when `maxSurge` is 0",
            )
        )
    return errs + not_more_than_100_percent(max_unavailable, child(rolling_path, "maxUnavailable"))


def validate_deployment(obj: JsonObject, old: JsonObject | None) -> Errors:
    spec = as_map(obj.get("spec"))
    errs = _validate_replica_set_spec(spec, with_min_ready=False)
    errs += _validate_deployment_strategy(as_map(spec.get("strategy")), "spec.strategy")
    min_ready = as_int(spec.get("minReadySeconds")) or 0
    errs += non_negative("spec.minReadySeconds", min_ready)
    errs += non_negative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    deadline = as_int(spec.get("progressDeadlineSeconds", 600))
    if deadline is not None:
        errs += non_negative("spec.progressDeadlineSeconds", deadline)
        if deadline <= min_ready:
            errs.append(
                invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds")
            )
    return errs


def _validate_daemon_set_strategy(strategy: JsonObject, path: str) -> Errors:
    strategy_type = as_text(strategy.get("type")) or "RollingUpdate"
    if strategy_type == "OnDelete":
        return []
    if strategy_type != "RollingUpdate":
        value = _strategy_value(strategy, ("maxUnavailable", "maxSurge"))
        return [not_supported(path, value, ["RollingUpdate", "OnDelete"])]
    rolling, rolling_path = as_map(strategy.get("rollingUpdate")), child(path, "rollingUpdate")
    max_unavailable, max_surge = rolling.get("maxUnavailable", 1), rolling.get("maxSurge", 0)
    errs: Errors = []
    for name, value in (("maxUnavailable", max_unavailable), ("maxSurge", max_surge)):
        errs += validate_int_or_percent(value, child(rolling_path, name))
    for name, value in (("maxUnavailable", max_unavailable), ("maxSurge", max_surge)):
        errs += not_more_than_100_percent(value, child(rolling_path, name))
    has_unavailable, has_surge = (
        _int_or_percent_value(max_unavailable) != 0,
        _int_or_percent_value(max_surge) != 0,
    )
    if has_unavailable and has_surge:
        errs.append(
            invalid(
                child(rolling_path, "maxSurge"),
                _int_or_string_value(max_surge),
                "may not be set when maxUnavailable is non-zero",
            )
        )
    elif not has_unavailable and not has_surge:
        errs.append(required(child(rolling_path, "maxUnavailable"), "cannot be 0 when maxSurge is 0"))
    return errs


def validate_daemon_set(obj: JsonObject, old: JsonObject | None) -> Errors:
    spec = as_map(obj.get("spec"))
    selector, template = spec.get("selector"), as_map(spec.get("template"))
    errs = validate_label_selector(as_map(selector), "spec.selector") if selector is not None else []
    if selector_parses(selector):
        errs += selector_mismatch(selector, template, "spec.template", skip_empty=False)
    if selector_is_empty(selector):
        errs.append(
            invalid("spec.selector", selector_value(selector), "empty selector is invalid for daemonset")
        )
    errs += _validate_always_restarting_template(template, "spec.template", "DaemonSet")
    errs += non_negative("spec.minReadySeconds", spec.get("minReadySeconds"))
    errs += non_negative("spec.templateGeneration", spec.get("templateGeneration"))
    errs += _validate_daemon_set_strategy(as_map(spec.get("updateStrategy")), "spec.updateStrategy")
    return errs + non_negative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))


def _validate_stateful_set_strategy(strategy: JsonObject, path: str) -> Errors:
    strategy_type = as_text(strategy.get("type")) or "RollingUpdate"
    rolling = strategy.get("rollingUpdate")
    if strategy_type == "OnDelete":
        if rolling is None:
            return []
        value = _strategy_value(strategy, ("partition", "maxUnavailable"))["RollingUpdate"]
        return [
            invalid(child(path, "rollingUpdate"), value, "only allowed for updateStrategy 'RollingUpdate'")
        ]
    if strategy_type != "RollingUpdate":
        return [
            invalid(
                path,
                _strategy_value(strategy, ("partition", "maxUnavailable")),
                "must be 'RollingUpdate' or 'OnDelete'",
            )
        ]
    rolling_path = child(path, "rollingUpdate")
    errs = non_negative(child(rolling_path, "partition"), as_map(rolling).get("partition"))
    max_unavailable = as_map(rolling).get("maxUnavailable")
    if max_unavailable is not None:
        errs += validate_int_or_percent(max_unavailable, child(rolling_path, "maxUnavailable"))
        if _int_or_percent_value(max_unavailable) == 0:
            errs.append(
                invalid(
                    child(rolling_path, "maxUnavailable"),
                    _int_or_string_value(max_unavailable),
                    "cannot be 0",
                )
            )
        errs += not_more_than_100_percent(max_unavailable, child(rolling_path, "maxUnavailable"))
    return errs


def validate_stateful_set(obj: JsonObject, old: JsonObject | None) -> Errors:
    spec = as_map(obj.get("spec"))
    errs: Errors = []
    policy = as_text(spec.get("podManagementPolicy")) or "OrderedReady"
    if policy not in ("OrderedReady", "Parallel"):
        errs.append(
            invalid("spec.podManagementPolicy", GoEnum(policy), "must be 'OrderedReady' or 'Parallel'")
        )
    errs += _validate_stateful_set_strategy(as_map(spec.get("updateStrategy")), "spec.updateStrategy")
    retention = as_map(spec.get("persistentVolumeClaimRetentionPolicy"))
    for name in ("whenDeleted", "whenScaled"):
        value = as_text(retention.get(name)) or "Retain"
        if value not in ("Retain", "Delete"):
            errs.append(
                not_supported(
                    child("spec.persistentVolumeClaimRetentionPolicy", name), value, ["Retain", "Delete"]
                )
            )
    errs += non_negative("spec.replicas", spec.get("replicas"))
    errs += non_negative("spec.minReadySeconds", spec.get("minReadySeconds"))
    errs += non_negative("spec.ordinals.start", as_map(spec.get("ordinals")).get("start"))
    errs += _validate_required_selector(spec, "statefulset")
    selector, template = spec.get("selector"), as_map(spec.get("template"))
    if not selector_parses(selector):
        errs.append(invalid("spec.selector", selector_value(selector), ""))
    else:
        # The real StatefulSet validation leaves the pod spec alone (a long-standing TODO upstream).
        meta = as_map(template.get("metadata"))
        errs += selector_mismatch(selector, template, "spec.template", skip_empty=True)
        errs += validate_labels(str_map(meta.get("labels")), "spec.template.labels")
        errs += validate_annotations(str_map(meta.get("annotations")), "spec.template.annotations")
    restart_policy = template_restart_policy(template)
    if restart_policy != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", restart_policy, ["Always"]))
    if as_map(template.get("spec")).get("activeDeadlineSeconds") is not None:
        errs.append(
            forbidden(
                "spec.template.spec.activeDeadlineSeconds",
                "activeDeadlineSeconds in StatefulSet is not Supported",
            )
        )
    return errs


def selector_transition(new: JsonObject, old: JsonObject) -> Errors:
    """apps/v1 strategies: the selector is immutable."""
    selector = spec_of(new).get("selector")
    if semantically_equal(selector, spec_of(old).get("selector")):
        return []
    return [invalid("spec.selector", selector_value(selector), IMMUTABLE)]


_STATEFUL_SET_MUTABLE: Final = frozenset(
    {
        "replicas",
        "ordinals",
        "template",
        "updateStrategy",
        "persistentVolumeClaimRetentionPolicy",
        "minReadySeconds",
    }
)
_STATEFUL_SET_DEFAULTS: Final = {"podManagementPolicy": "OrderedReady", "revisionHistoryLimit": 10}


def _fixed_stateful_set_spec(spec: JsonObject) -> JsonObject:
    fixed = {
        key: value
        for key, value in {**_STATEFUL_SET_DEFAULTS, **spec}.items()
        if key not in _STATEFUL_SET_MUTABLE
    }
    claims = []
    for claim in map(as_map, as_list(spec.get("volumeClaimTemplates"))):
        claim_spec = {"volumeMode": "Filesystem", **as_map(claim.get("spec"))}
        claims.append({**{key: value for key, value in claim.items() if key != "status"}, "spec": claim_spec})
    fixed["volumeClaimTemplates"] = claims
    return fixed


def stateful_set_transition(new: JsonObject, old: JsonObject) -> Errors:
    if semantically_equal(_fixed_stateful_set_spec(spec_of(new)), _fixed_stateful_set_spec(spec_of(old))):
        return []
    return [
        forbidden(
            "spec",
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
            "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
            "'minReadySeconds' are forbidden",
        )
    ]

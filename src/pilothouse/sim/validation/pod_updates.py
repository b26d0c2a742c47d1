"""What a pod update may change (ValidatePodUpdate)."""

from __future__ import annotations

from typing import Any, Final

from .errors import Errors, child, forbidden, invalid, required, subscript
from .fields import (
    JsonObject,
    as_int,
    as_list,
    as_map,
    as_text,
    describe_changes,
    semantic,
    semantically_equal,
    spec_of,
)
from .pods import INT32_MAX, validate_tolerations

_POD_SPEC_DEFAULTS: Final = {
    "restartPolicy": "Always",
    "dnsPolicy": "ClusterFirst",
    "terminationGracePeriodSeconds": 30,
    "schedulerName": "default-scheduler",
    "enableServiceLinks": True,
    "preemptionPolicy": "PreemptLowerPriority",
}
_CONTAINER_DEFAULTS: Final = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
}
_UPDATABLE_POD_FIELDS: Final = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)


def _image_pull_policy(image: str) -> str:
    """The default pull policy: Always for an untagged or :latest image, unless pinned by digest."""
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _defaulted_container(container: JsonObject) -> JsonObject:
    image = as_text(container.get("image"))
    result = {**_CONTAINER_DEFAULTS, "imagePullPolicy": _image_pull_policy(image), **container}
    result["ports"] = [{"protocol": "TCP", **as_map(port)} for port in as_list(container.get("ports"))]
    resources = as_map(container.get("resources"))
    limits = as_map(resources.get("limits"))
    if limits:  # requests default to the limits
        result["resources"] = {**resources, "requests": {**limits, **as_map(resources.get("requests"))}}
    return result


def _defaulted_pod_spec(spec: JsonObject) -> JsonObject:
    """A pod spec with the defaults the real server fills in, so that an omitted default is no change."""
    result = {**_POD_SPEC_DEFAULTS, **{key: value for key, value in spec.items() if value is not None}}
    account = as_text(spec.get("serviceAccountName")) or as_text(spec.get("serviceAccount"))
    if account:  # the deprecated serviceAccount field mirrors serviceAccountName
        result["serviceAccountName"] = result["serviceAccount"] = account
    for group in ("containers", "initContainers"):
        result[group] = [_defaulted_container(as_map(c)) for c in as_list(spec.get(group))]
    return result


def defaulted_template(template: JsonObject) -> JsonObject:
    return {**template, "spec": _defaulted_pod_spec(as_map(template.get("spec")))}


def _toleration_key(toleration: JsonObject, seconds: object) -> object:
    return semantic({**toleration, "tolerationSeconds": seconds})


def _validate_added_tolerations(tolerations: list[Any], old_tolerations: list[Any]) -> Errors:
    """validateOnlyAddedTolerations: existing ones may only change their tolerationSeconds."""
    current = [as_map(t) for t in tolerations]
    for old in map(as_map, old_tolerations):
        if not any(_toleration_key(old, new.get("tolerationSeconds")) == semantic(new) for new in current):
            return [
                forbidden(
                    "spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"
                )
            ]
    return validate_tolerations(tolerations, "spec.tolerations")


def pod_transition(new: JsonObject, old: JsonObject) -> Errors:
    spec, old_spec = spec_of(new), spec_of(old)
    errs: Errors = []
    for group in ("containers", "initContainers"):
        path = child("spec", group)
        containers = [as_map(c) for c in as_list(spec.get(group))]
        if len(containers) != len(as_list(old_spec.get(group))):
            return [*errs, forbidden(path, "pod updates may not add or remove containers")]
        for i, image in enumerate(as_text(c.get("image")) for c in containers):
            if not image:
                errs.append(required(child(subscript(path, i), "image")))
            if image != image.strip():
                errs.append(
                    invalid(
                        child(subscript(path, i), "image"),
                        image,
                        "must not have leading or trailing whitespace",
                    )
                )
    deadline, old_deadline = (
        as_int(spec.get("activeDeadlineSeconds")),
        as_int(old_spec.get("activeDeadlineSeconds")),
    )
    if deadline is not None:
        if not 0 <= deadline <= INT32_MAX:
            return [
                *errs,
                invalid(
                    "spec.activeDeadlineSeconds", deadline, f"must be between 0 and {INT32_MAX}, inclusive"
                ),
            ]
        if old_deadline is not None and old_deadline < deadline:
            return [
                *errs,
                invalid(
                    "spec.activeDeadlineSeconds", deadline, "must be less than or equal to previous value"
                ),
            ]
    elif old_deadline is not None:
        errs.append(
            invalid(
                "spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"
            )
        )
    errs += _validate_added_tolerations(
        as_list(spec.get("tolerations")), as_list(old_spec.get("tolerations"))
    )
    old_gates = {as_text(as_map(gate).get("name")) for gate in as_list(old_spec.get("schedulingGates"))}
    for i, gate in enumerate(as_text(as_map(g).get("name")) for g in as_list(spec.get("schedulingGates"))):
        if gate not in old_gates:
            errs.append(
                forbidden(
                    child(subscript("spec.schedulingGates", i), "name"),
                    f"only deletion is allowed, but found new scheduling gate '{gate}'",
                )
            )
    current, before = _defaulted_pod_spec(spec), _defaulted_pod_spec(old_spec)
    munged = {**current}
    for group in ("containers", "initContainers"):
        munged[group] = [
            {**c, "image": o.get("image")} for c, o in zip(current[group], before[group], strict=True)
        ]
    for name in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged[name] = before.get(name)
    old_grace = as_int(before.get("terminationGracePeriodSeconds"))
    if old_grace is not None and old_grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if not semantically_equal(munged, before):
        changes = "\n".join(describe_changes(before, munged))
        errs.append(
            forbidden(
                "spec",
                f"pod updates may not change fields other than {','.join(_UPDATABLE_POD_FIELDS)}\n{changes}",
            )
        )
    return errs

"""PATCH semantics of the Kubernetes apiserver, applied to plain JSON objects.

Four content types are understood, as by the real apiserver:

* ``application/json-patch+json`` - RFC 6902 operations (via the ``jsonpatch`` library);
* ``application/merge-patch+json`` - RFC 7386 JSON merge patch;
* ``application/strategic-merge-patch+json`` - Kubernetes' strategic merge patch, a port of
  ``k8s.io/apimachinery/pkg/util/strategicpatch`` (server-side half: ``StrategicMergeMapPatch``);
* ``application/apply-patch+yaml`` - server-side apply, approximated as a strategic merge of
  the applied configuration onto the live object (field ownership is not tracked).

Strategic merge needs each field's ``patchStrategy``/``patchMergeKey`` struct tags. Instead of
Go types we keep a table of field paths (list elements add no path segment) taken from the
``k8s.io/api`` tags of the kinds the simulator serves. Fields absent from the table behave
like untagged Go fields: maps merge recursively, lists are replaced.

Every function returns new objects and never mutates its arguments.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any, Final, Literal

import jsonpatch
import jsonpointer
import orjson
import yaml

from pilothouse.sim.resources import BUILTIN_API_GROUPS

JSON_PATCH: Final = "application/json-patch+json"
MERGE_PATCH: Final = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH: Final = "application/strategic-merge-patch+json"
APPLY_PATCH: Final = "application/apply-patch+yaml"

_STATUS_REASONS: Final = {400: "BadRequest", 409: "Conflict", 415: "UnsupportedMediaType", 422: "Invalid"}


class PatchError(Exception):
    """A patch the apiserver would refuse, with what a ``metav1.Status`` needs."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code

    @property
    def reason(self) -> str:
        """The ``Status.reason`` the apiserver pairs with this code."""
        return _STATUS_REASONS.get(self.status_code, "BadRequest")


# ---------------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch


def apply_json_merge_patch(target: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply an RFC 7386 merge patch: objects merge recursively, null deletes, the rest replaces."""
    if not isinstance(patch, dict):
        # A non-object patch would replace the whole object; evanphx/json-patch (used by the
        # apiserver) refuses null outright and anything else cannot decode into an API object.
        raise PatchError("Invalid JSON Patch")
    merged = _merge_patch_value(copy.deepcopy(target), patch)
    assert isinstance(merged, dict)
    return merged


def _merge_patch_value(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch(Target, Patch); ``target`` is a private copy and may be reused."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged: dict[str, Any] = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge_patch_value(merged.get(key), value)
    return merged


# ---------------------------------------------------------------------------------------------
# RFC 6902 JSON patch

# The apiserver answers every failure while *applying* operations (a failed "test", a missing
# path, an unknown op) with this generic 422 and empty details; only undecodable bodies are 400.
_JSON_PATCH_REJECTED: Final = "the server rejected our request due to an error in our request"


def apply_json_patch(target: dict[str, Any], operations: Any) -> dict[str, Any]:
    """Apply RFC 6902 operations; failures raise ``PatchError`` 422 like the apiserver."""
    if not isinstance(operations, list):
        raise PatchError(
            f"json: cannot unmarshal {_json_type_name(operations)} into Go value of type jsonpatch.Patch"
        )
    try:
        # Operation values are inserted by reference, so copy them to keep the result independent.
        patch = jsonpatch.JsonPatch(copy.deepcopy(operations))
        result = patch.apply(target, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError) as exc:
        raise PatchError(_JSON_PATCH_REJECTED, 422) from exc
    if not isinstance(result, dict):
        raise PatchError(f"json: cannot unmarshal {_json_type_name(result)} into Go value of type map")
    return result


def _json_type_name(value: Any) -> str:
    """The word Go's encoding/json uses for a JSON value's type in unmarshal errors."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return "number"


# ---------------------------------------------------------------------------------------------
# Strategic merge patch: the per-kind table of patch strategies

Path = tuple[str, ...]


@dataclass(frozen=True)
class FieldStrategy:
    """One field's ``patchStrategy`` and ``patchMergeKey`` struct tags."""

    strategy: Literal["merge", "replace"]
    # For "merge" lists of objects: the key identifying elements. None with "merge" means a
    # list of primitives merged as a set (e.g. metadata.finalizers).
    merge_key: str | None = None


def _by_key(merge_key: str) -> FieldStrategy:
    return FieldStrategy("merge", merge_key)


_MERGE_AS_SET: Final = FieldStrategy("merge")
_REPLACE: Final = FieldStrategy("replace")

_CONTAINER_LISTS: Final = ("containers", "initContainers", "ephemeralContainers")

# Relative to one container. Tags from k8s.io/api/core/v1 Container (EphemeralContainerCommon
# carries the same ones).
_CONTAINER_FIELDS: Final[Mapping[Path, FieldStrategy]] = {
    ("env",): _by_key("name"),
    ("ports",): _by_key("containerPort"),
    ("volumeMounts",): _by_key("mountPath"),
    ("volumeDevices",): _by_key("devicePath"),
}

# Relative to a PodSpec. Tolerations, readinessGates and envFrom carry no patch tags: replaced.
_POD_SPEC_FIELDS: Final[Mapping[Path, FieldStrategy]] = {
    ("volumes",): _by_key("name"),
    ("imagePullSecrets",): _by_key("name"),
    ("hostAliases",): _by_key("ip"),
    ("topologySpreadConstraints",): _by_key("topologyKey"),
    ("schedulingGates",): _by_key("name"),
    ("resourceClaims",): _by_key("name"),
    **{(container_list,): _by_key("name") for container_list in _CONTAINER_LISTS},
    **{
        (container_list, *field): strategy
        for container_list in _CONTAINER_LISTS
        for field, strategy in _CONTAINER_FIELDS.items()
    },
}

# Where each workload kind keeps its PodSpec, keyed by (group, kind).
_POD_SPEC_LOCATIONS: Final[Mapping[tuple[str, str], Path]] = {
    ("", "Pod"): ("spec",),
    ("", "PodTemplate"): ("template", "spec"),
    ("", "ReplicationController"): ("spec", "template", "spec"),
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}

# ObjectMeta is shared by every kind; nearly every built-in status condition list is tagged
# merge-by-type (a simplification: a few newer kinds leave theirs untagged).
_COMMON_FIELDS: Final[Mapping[Path, FieldStrategy]] = {
    ("metadata", "ownerReferences"): _by_key("uid"),
    ("metadata", "finalizers"): _MERGE_AS_SET,
    ("status", "conditions"): _by_key("type"),
}

_WEBHOOK_CONFIGURATION_FIELDS: Final[Mapping[Path, FieldStrategy]] = {
    ("webhooks",): _by_key("name"),
    ("webhooks", "matchConditions"): _by_key("name"),
}

_KIND_FIELDS: Final[Mapping[tuple[str, str], Mapping[Path, FieldStrategy]]] = {
    ("", "Pod"): {
        ("status", "podIPs"): _by_key("ip"),
        ("status", "hostIPs"): _by_key("ip"),
        ("status", "resourceClaimStatuses"): _by_key("name"),
    },
    # Endpoints.subsets carries no tags and is therefore replaced.
    ("", "Service"): {("spec", "ports"): _by_key("port")},
    ("", "Node"): {("spec", "podCIDRs"): _MERGE_AS_SET, ("status", "addresses"): _by_key("type")},
    ("", "ServiceAccount"): {("secrets",): _by_key("name")},
    ("policy", "PodDisruptionBudget"): {("spec", "selector"): _REPLACE},
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): _WEBHOOK_CONFIGURATION_FIELDS,
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): _WEBHOOK_CONFIGURATION_FIELDS,
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): {
        ("spec", "matchConditions"): _by_key("name"),
        ("spec", "variables"): _by_key("name"),
    },
}


def supports_strategic_merge(kind: str, group: str = "") -> bool:
    """Whether the apiserver accepts strategic merge patches for this kind (built-ins only)."""
    return group in BUILTIN_API_GROUPS


@cache
def field_strategies(kind: str, group: str = "") -> Mapping[Path, FieldStrategy]:
    """Every tagged field path of a built-in kind, relative to the object root."""
    strategies: dict[Path, FieldStrategy] = dict(_COMMON_FIELDS)
    pod_spec = _POD_SPEC_LOCATIONS.get((group, kind))
    if pod_spec is not None:
        strategies.update({pod_spec + path: strategy for path, strategy in _POD_SPEC_FIELDS.items()})
    strategies.update(_KIND_FIELDS.get((group, kind), {}))
    return MappingProxyType(strategies)


# ---------------------------------------------------------------------------------------------
# Strategic merge patch: the merge itself

_DIRECTIVE: Final = "$patch"
_RETAIN_KEYS: Final = "$retainKeys"
_SET_ELEMENT_ORDER: Final = "$setElementOrder/"
_DELETE_FROM_PRIMITIVE_LIST: Final = "$deleteFromPrimitiveList/"

# Messages of k8s.io/apimachinery/pkg/util/mergepatch errors.
_BAD_RETAIN_KEYS: Final = "invalid patch format of retainKeys"
_BAD_SET_ELEMENT_ORDER: Final = "invalid patch format of setElementOrder list"
_BAD_PRIMITIVE_LIST: Final = "invalid patch format of primitive list"


def apply_strategic_merge_patch(
    target: dict[str, Any], patch: Any, kind: str, group: str = ""
) -> dict[str, Any]:
    """Apply a Kubernetes strategic merge patch to an object of a built-in kind."""
    if not supports_strategic_merge(kind, group):
        raise PatchError(_unsupported_media_type_message(kind, group), 415)
    if not isinstance(patch, dict):
        raise PatchError(
            f"json: cannot unmarshal {_json_type_name(patch)} into Go value of type map[string]interface {{}}"
        )
    merger = _StrategicMerger(field_strategies(kind, group))
    # Both sides are private copies: the merger works in place, like the Go original.
    return merger.merge_map(copy.deepcopy(target), copy.deepcopy(patch), ())


class _StrategicMerger:
    """The server-side half of strategicpatch (MergeParallelList and IgnoreUnmatchedNulls on).

    Values copied from the patch (new keys, new list elements) are themselves merged into an
    empty value, so directives and nulls never reach the stored object; Go gets the same
    effect from decoding the result into typed structs.
    """

    def __init__(self, strategies: Mapping[Path, FieldStrategy]) -> None:
        self._strategies = strategies

    def merge_map(self, original: dict[str, Any], patch: dict[str, Any], path: Path) -> dict[str, Any]:
        if _DIRECTIVE in patch:
            return self._apply_map_directive(patch, path)
        _apply_retain_keys(original, patch)
        handled = {_RETAIN_KEYS}
        for key in patch:
            if key.startswith(_SET_ELEMENT_ORDER):
                handled.add(key)
                handled.add(self._apply_set_element_order(original, patch, key, path))
        for key, value in patch.items():
            if key in handled:
                continue
            if key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
                _delete_from_primitive_list(original, key, value)
            elif key.startswith("$"):
                # Unknown directives are dropped, as typed decoding drops unknown fields.
                continue
            elif value is None:
                original.pop(key, None)
            else:
                original[key] = self._merge_value(original.get(key), value, (*path, key))
        return original

    def _merge_value(self, current: Any, value: Any, path: Path) -> Any:
        if isinstance(value, dict):
            replace = self._strategies.get(path) == _REPLACE
            base = current if isinstance(current, dict) and not replace else {}
            return self.merge_map(base, value, path)
        if isinstance(value, list):
            return self._merge_list(current if isinstance(current, list) else [], value, path)
        return value

    def _merge_list(self, original: list[Any], patch: list[Any], path: Path) -> list[Any]:
        strategy = self._strategies.get(path)
        if strategy is None or strategy.strategy != "merge":
            return [self._fresh(item, path) for item in patch]
        if strategy.merge_key is None:
            return _merge_primitive_set(original, patch)
        return self._merge_keyed_list(original, patch, strategy.merge_key, path)

    def _fresh(self, item: Any, path: Path) -> Any:
        return self.merge_map({}, item, path) if isinstance(item, dict) else item

    def _merge_keyed_list(
        self, original: list[Any], patch: list[Any], merge_key: str, path: Path
    ) -> list[Any]:
        _require_objects(original + patch)
        live = list(original)
        additions: list[dict[str, Any]] = []
        replace = False
        for item in patch:
            if _DIRECTIVE not in item:
                additions.append(item)
            elif item[_DIRECTIVE] == "delete":
                if merge_key not in item:
                    raise PatchError(_no_merge_key_message(item, merge_key))
                live = [kept for kept in live if not _has_key_value(kept, merge_key, item[merge_key])]
            elif item[_DIRECTIVE] == "replace":
                replace = True  # keep scanning: other directive elements are still dropped
            elif item[_DIRECTIVE] == "merge":
                raise PatchError("merging lists cannot yet be specified in the patch")
            else:
                raise PatchError(_bad_patch_type_message(item[_DIRECTIVE], item))
        if replace:
            return [self._fresh(item, path) for item in additions]

        merged = list(live)
        for item in additions:
            if merge_key not in item:
                raise PatchError(_no_merge_key_message(item, merge_key))
            index = _index_of_key_value(merged, merge_key, item[merge_key])
            if index >= 0:
                merged[index] = self.merge_map(merged[index], item, path)
            else:
                merged.append(self.merge_map({}, item, path))
        return _normalize_order(merged, additions, live, _identity_by(merge_key))

    def _apply_map_directive(self, patch: dict[str, Any], path: Path) -> dict[str, Any]:
        directive = patch[_DIRECTIVE]
        if directive == "replace":
            rest = {key: value for key, value in patch.items() if key != _DIRECTIVE}
            return self.merge_map({}, rest, path)
        if directive == "delete":
            # Kubernetes empties the map rather than removing its key.
            return {}
        raise PatchError(_bad_patch_type_message(directive, patch))

    def _apply_set_element_order(
        self, original: dict[str, Any], patch: dict[str, Any], directive_key: str, path: Path
    ) -> str:
        """Merge the list named by a ``$setElementOrder/<field>`` directive and order it.

        Precedence, as in the design of the directive: the directive's order, then the order
        in the patch list, then the order of the live list. Returns the field name so the
        caller skips the already-merged patch list.
        """
        field = directive_key.removeprefix(_SET_ELEMENT_ORDER)
        order = patch[directive_key]
        if not field or not isinstance(order, list):
            raise PatchError(_BAD_SET_ELEMENT_ORDER)
        field_path = (*path, field)
        strategy = self._strategies.get(field_path)
        merge_key = strategy.merge_key if strategy is not None else None
        identity = _identity_by(merge_key)

        live = original.get(field, [])
        patch_list = patch.get(field, [])
        if not isinstance(live, list) or not isinstance(patch_list, list):
            raise PatchError(_BAD_SET_ELEMENT_ORDER)
        _check_order_consistency(patch_list, order, merge_key)
        if field not in original and field not in patch:
            return field
        merged = self._merge_list(live, patch_list, field_path) if field in patch else list(live)
        original[field] = _normalize_order(merged, order, live, identity)
        return field


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    """Honour ``$retainKeys``: clear every key of ``original`` the directive does not list."""
    if _RETAIN_KEYS not in patch:
        return
    retained = patch[_RETAIN_KEYS]
    if not isinstance(retained, list):
        raise PatchError(_BAD_RETAIN_KEYS)
    for key, value in patch.items():
        # Fields the patch sets must be retained; deletions and directives are exempt.
        if value is not None and not key.startswith("$") and key not in retained:
            raise PatchError(_BAD_RETAIN_KEYS)
    for key in [key for key in original if key not in retained]:
        del original[key]


def _delete_from_primitive_list(original: dict[str, Any], directive_key: str, values: Any) -> None:
    field = directive_key.removeprefix(_DELETE_FROM_PRIMITIVE_LIST)
    if not field or not isinstance(values, list):
        raise PatchError(_BAD_PRIMITIVE_LIST)
    live = original.get(field)
    if isinstance(live, list):
        original[field] = [item for item in live if item not in values]


def _merge_primitive_set(original: list[Any], patch: list[Any]) -> list[Any]:
    if any(isinstance(item, (dict, list)) for item in original + patch):
        raise PatchError("lists of objects or lists cannot be merged as a set of primitives")
    merged: list[Any] = []
    for item in original + patch:
        if item not in merged:
            merged.append(item)
    return _normalize_order(merged, patch, original, _identity_by(None))


def _check_order_consistency(patch_list: list[Any], order: list[Any], merge_key: str | None) -> None:
    """The patch list must follow the ``$setElementOrder`` list (validatePatchWithSetOrderList)."""
    identity = _identity_by(merge_key)
    pending = [item for item in patch_list if not (isinstance(item, dict) and _DIRECTIVE in item)]
    position = 0
    for entry in order:
        if position < len(pending) and identity(pending[position]) == identity(entry):
            position += 1
    if position < len(pending):
        raise PatchError(
            f"The order in patch list:\n{patch_list}\n doesn't match $setElementOrder list:\n{order}"
        )


def _normalize_order(
    merged: list[Any], patch_order: list[Any], live_order: list[Any], identity: Callable[[Any], Any]
) -> list[Any]:
    """Order a merged list like strategicpatch's normalizeElementOrder + mergeSortedSlice.

    Items named in ``patch_order`` follow that order; the others ("server-only") keep their
    live order and are woven in before a patch item only when the live list shows them
    earlier. So an element new to the live list lands *before* the remaining server-only
    ones, exactly as kubectl users observe on plain strategic merge patches.
    """
    patch_ids = [identity(item) for item in patch_order]
    live_ids = [identity(item) for item in live_order]
    from_patch = [item for item in merged if _position(patch_ids, identity(item)) >= 0]
    server_only = [item for item in merged if _position(patch_ids, identity(item)) < 0]
    from_patch.sort(key=lambda item: _position(patch_ids, identity(item)))
    server_only.sort(key=lambda item: _rank(live_ids, identity(item)))

    result: list[Any] = []
    i = j = 0
    while i < len(server_only) and j < len(from_patch):
        live_i = _position(live_ids, identity(server_only[i]))
        live_j = _position(live_ids, identity(from_patch[j]))
        if 0 <= live_i < live_j:
            result.append(server_only[i])
            i += 1
        else:
            result.append(from_patch[j])
            j += 1
    return result + server_only[i:] + from_patch[j:]


def _identity_by(merge_key: str | None) -> Callable[[Any], Any]:
    """What identifies a list element: its merge key's value, or the primitive itself."""
    if merge_key is None:
        return lambda item: item

    def key_value(item: Any) -> Any:
        if isinstance(item, dict) and merge_key in item:
            return item[merge_key]
        return object()  # an element without the key matches nothing

    return key_value


def _position(identities: list[Any], identity: Any) -> int:
    # Linear search: merge-key values need not be hashable, and lists are short.
    for index, candidate in enumerate(identities):
        if candidate == identity:
            return index
    return -1


def _rank(identities: list[Any], identity: Any) -> int:
    position = _position(identities, identity)
    return position if position >= 0 else len(identities)


def _has_key_value(item: dict[str, Any], merge_key: str, value: Any) -> bool:
    return merge_key in item and item[merge_key] == value


def _index_of_key_value(items: list[dict[str, Any]], merge_key: str, value: Any) -> int:
    for index, item in enumerate(items):
        if _has_key_value(item, merge_key, value):
            return index
    return -1


def _require_objects(items: list[Any]) -> None:
    for item in items:
        if not isinstance(item, dict):
            raise PatchError(f"expected a list of objects merged by key, found element {_go_repr(item)}")


def _no_merge_key_message(item: dict[str, Any], merge_key: str) -> str:
    return f"map: {_go_repr(item)} does not contain declared merge key: {merge_key}"


def _bad_patch_type_message(directive: Any, item: dict[str, Any]) -> str:
    return f"unknown patch type: {directive} in map: {_go_repr(item)}"


def _go_repr(value: Any) -> str:
    """Roughly Go's %v of a decoded JSON value (map[k:v] with sorted keys, [a b])."""
    if isinstance(value, dict):
        inner = " ".join(f"{key}:{_go_repr(value[key])}" for key in sorted(value))
        return f"map[{inner}]"
    if isinstance(value, list):
        return "[" + " ".join(_go_repr(item) for item in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------------------
# Dispatch by content type


def apply_patch(
    target: dict[str, Any], body: bytes, content_type: str, kind: str, group: str = ""
) -> dict[str, Any]:
    """Apply a PATCH request body to ``target`` according to its Content-Type."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    handler = _HANDLERS.get(media_type)
    if handler is None or (media_type == STRATEGIC_MERGE_PATCH and not supports_strategic_merge(kind, group)):
        # The apiserver checks the media type before it reads the body.
        raise PatchError(_unsupported_media_type_message(kind, group), 415)
    return handler(target, body, kind, group)


def _accepted_patch_types(kind: str, group: str) -> list[str]:
    if supports_strategic_merge(kind, group):
        return [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH]
    return [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]


def _unsupported_media_type_message(kind: str, group: str) -> str:
    # The apiserver's negotiation error; kubectl prefixes it with
    # "application/strategic-merge-patch+json is not supported by <gvk>: " for custom resources.
    accepted = ", ".join(_accepted_patch_types(kind, group))
    return f"the body of the request was in an unknown format - accepted media types include: {accepted}"


def _decode_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PatchError(f"error decoding patch: {exc}") from exc


def _apply_json_patch_body(target: dict[str, Any], body: bytes, kind: str, group: str) -> dict[str, Any]:
    return apply_json_patch(target, _decode_json(body))


def _apply_merge_patch_body(target: dict[str, Any], body: bytes, kind: str, group: str) -> dict[str, Any]:
    return apply_json_merge_patch(target, _decode_json(body))


def _apply_strategic_body(target: dict[str, Any], body: bytes, kind: str, group: str) -> dict[str, Any]:
    return apply_strategic_merge_patch(target, _decode_json(body), kind, group)


def _apply_server_side_apply_body(
    target: dict[str, Any], body: bytes, kind: str, group: str
) -> dict[str, Any]:
    """Server-side apply without field management: merge the applied configuration in.

    Built-in kinds merge strategically; custom resources (whose lists are atomic unless the
    CRD schema says otherwise) get a JSON merge patch. Fields the applier stopped listing are
    not removed, since ownership is not tracked.
    """
    config = _decode_apply_config(body)
    if not isinstance(config, dict):
        raise PatchError(f"error decoding YAML: applied configuration must be an object, got {config!r}")
    if supports_strategic_merge(kind, group):
        return apply_strategic_merge_patch(target, config, kind, group)
    return apply_json_merge_patch(target, config)


_HANDLERS: Final[Mapping[str, Callable[[dict[str, Any], bytes, str, str], dict[str, Any]]]] = {
    JSON_PATCH: _apply_json_patch_body,
    MERGE_PATCH: _apply_merge_patch_body,
    STRATEGIC_MERGE_PATCH: _apply_strategic_body,
    APPLY_PATCH: _apply_server_side_apply_body,
}


class _ApplyConfigLoader(yaml.SafeLoader):
    """YAML loader matching sigs.k8s.io/yaml: timestamps stay strings, a bare "=" is a string."""


_ApplyConfigLoader.yaml_implicit_resolvers = {
    first_char: [
        (tag, pattern)
        for tag, pattern in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")
    ]
    for first_char, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _decode_apply_config(body: bytes) -> Any:
    """Decode a YAML (or JSON, which YAML contains) apply configuration into JSON values."""
    try:
        document = yaml.load(body, Loader=_ApplyConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise PatchError(f"error decoding YAML: {exc}") from exc
    return _as_json_value(document)


def _as_json_value(value: Any) -> Any:
    """Give YAML-only constructs their JSON form: non-string keys become strings."""
    if isinstance(value, dict):
        return {_json_key(key): _as_json_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_json_value(item) for item in value]
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise PatchError(f"error decoding YAML: unsupported value {value!r}")


def _json_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)

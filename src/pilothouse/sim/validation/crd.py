"""CustomResourceDefinitions (apiextensions-apiserver's CRD validation)."""

from __future__ import annotations

from .errors import Errors, GoEnum, child, invalid, not_supported, required, subscript
from .fields import JsonObject, as_list, as_map, as_text, spec_of
from .formats import NameCheck, is_dns1035_label, is_dns1123_subdomain, name_is_dns_subdomain
from .metadata import IMMUTABLE


def crd_name_check(obj: JsonObject) -> NameCheck:
    spec = as_map(obj.get("spec"))
    expected = f"{as_text(as_map(spec.get('names')).get('plural'))}.{as_text(spec.get('group'))}"

    def check(name: str, prefix: bool) -> list[str]:
        errs = name_is_dns_subdomain(name, prefix)
        return errs if name == expected else [*errs, 'must be spec.names.plural+"."+spec.group']

    return check


def _validate_crd_names(names: JsonObject, path: str) -> Errors:
    errs: Errors = []
    kind = as_text(names.get("kind"))
    # Defaulting derives singular and listKind from kind.
    singular, list_kind = (
        as_text(names.get("singular")) or kind.lower(),
        as_text(names.get("listKind")) or (f"{kind}List" if kind else ""),
    )
    for name, value in (("plural", as_text(names.get("plural"))), ("singular", singular)):
        problems = is_dns1035_label(value)
        if value and problems:
            errs.append(invalid(child(path, name), value, ",".join(problems)))
    for name, value in (("kind", kind), ("listKind", list_kind)):
        problems = is_dns1035_label(value.lower())
        if value and problems:
            errs.append(
                invalid(
                    child(path, name),
                    value,
                    "may have mixed case, but should otherwise match: " + ",".join(problems),
                )
            )
    for group in ("shortNames", "categories"):
        for i, value in enumerate(map(as_text, as_list(names.get(group)))):
            problems = is_dns1035_label(value)
            if problems:
                errs.append(invalid(subscript(child(path, group), i), value, ",".join(problems)))
    if kind and kind == list_kind:
        errs.append(invalid(child(path, "listKind"), list_kind, "kind and listKind may not be the same"))
    return errs


def validate_crd(obj: JsonObject, old: JsonObject | None) -> Errors:
    spec = as_map(obj.get("spec"))
    errs: Errors = []
    group = as_text(spec.get("group"))
    if not group:
        errs.append(required("spec.group"))
    elif problems := is_dns1123_subdomain(group):
        errs.append(invalid("spec.group", group, ",".join(problems)))
    elif "." not in group:
        errs.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = as_text(spec.get("scope"))
    if not scope:
        errs.append(required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        errs.append(not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))
    versions = [as_map(v) for v in as_list(spec.get("versions"))]
    version_names = [as_text(v.get("name")) for v in versions]
    for i, name in enumerate(version_names):
        if problems := is_dns1035_label(name):
            errs.append(invalid(child(subscript("spec.versions", i), "name"), name, ",".join(problems)))
    if len(set(version_names)) != len(version_names):
        errs.append(invalid("spec.versions", versions, "must contain unique version names"))
    if sum(1 for v in versions if v.get("storage") is True) != 1:
        errs.append(
            invalid("spec.versions", versions, "must have exactly one version marked as storage version")
        )
    names = as_map(spec.get("names"))
    kind = as_text(names.get("kind"))
    for name, present in (
        ("plural", names.get("plural")),
        ("singular", names.get("singular") or kind),
        ("kind", kind),
        ("listKind", names.get("listKind") or kind),
    ):
        if not present:
            errs.append(required(child("spec.names", name)))
    errs += _validate_crd_names(names, "spec.names")
    errs += [
        required(child(subscript("spec.versions", i), "schema", "openAPIV3Schema"), "schemas are required")
        for i, version in enumerate(versions)
        if not as_map(version.get("schema")).get("openAPIV3Schema")
    ]
    return errs


def crd_transition(new: JsonObject, old: JsonObject) -> Errors:
    spec, old_spec = spec_of(new), spec_of(old)
    names, old_names = as_map(spec.get("names")), as_map(old_spec.get("names"))
    conditions = map(as_map, as_list(as_map(old.get("status")).get("conditions")))
    established = any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
    checks = [
        ("spec.group", spec.get("group"), old_spec.get("group")),
        ("spec.names.plural", names.get("plural"), old_names.get("plural")),
    ]
    if established:  # these shape the storage once served
        checks[:0] = [
            ("spec.scope", GoEnum(as_text(spec.get("scope"))), old_spec.get("scope")),
            ("spec.names.kind", names.get("kind"), old_names.get("kind")),
        ]
    return [
        invalid(path, as_text(value) if not isinstance(value, GoEnum) else value, IMMUTABLE)
        for path, value, old_value in checks
        if as_text(value) != as_text(old_value)
    ]

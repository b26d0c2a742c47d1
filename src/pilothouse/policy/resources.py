"""Resource types as the policy sees them, and how kubectl's resource arguments resolve to them.

kubectl accepts a resource type as ``TYPE``, ``TYPE.GROUP`` or ``TYPE.VERSION.GROUP`` where TYPE
is a plural, singular, short name or kind, matched case-insensitively (kubectl lowercases it).
A trailing dot names the core group: ``secrets.v1.`` and ``secrets.`` are the core Secret.
Category names such as ``all`` expand to every resource that lists the category.

The catalog is fed from real discovery by the server and the executor; ``builtin_catalog()`` in
``builtin_resources`` is the stand-in used before discovery is available.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

# Kubernetes API versions look like v1, v2beta1, v1alpha3.
_API_VERSION = re.compile(r"v[1-9][0-9]*(?:(?:alpha|beta)[1-9][0-9]*)?")


@dataclass(frozen=True)
class ResourceRef:
    """One resource type from discovery (one row of ``kubectl api-resources``)."""

    plural: str
    singular: str
    kind: str
    short_names: tuple[str, ...] = ()
    group: str = ""
    namespaced: bool = True
    versions: tuple[str, ...] = ()  # empty: unknown, any version is accepted
    categories: tuple[str, ...] = ()

    @property
    def group_resource(self) -> str:
        """The unambiguous ``plural.group`` form (just ``plural`` for the core group)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def aliases(self) -> tuple[str, ...]:
        """Every lowercase spelling that names this type without a group."""
        spellings = (self.plural, self.singular or self.kind, self.kind, *self.short_names)
        return tuple(dict.fromkeys(spelling.lower() for spelling in spellings if spelling))


class ResourceCatalog(Protocol):
    """Resolves the resource arguments of kubectl commands, as discovery would."""

    def resolve(self, name: str) -> ResourceRef | None:
        """The type that ``name`` (``TYPE``, ``TYPE.GROUP``, ``TYPE.VERSION.GROUP``) names, if any."""
        ...

    def expand_category(self, name: str) -> tuple[ResourceRef, ...]:
        """The members of the category ``name`` (such as ``all``); empty if it is not a category."""
        ...


class StaticResourceCatalog:
    """A catalog over a fixed list of resource types, e.g. the result of one discovery run.

    When a spelling is shared (``events`` in the core group and in ``events.k8s.io``, or a custom
    resource whose short name shadows a built-in one) the core group wins, then list order. This
    is kubectl's preference too, and it keeps the Secret check conservative: a name that could
    mean the core Secret resolves to it.
    """

    def __init__(self, resources: Iterable[ResourceRef]) -> None:
        # sorted() is stable, so discovery order is kept within the core and non-core groups.
        self._resources = tuple(sorted(resources, key=lambda ref: ref.group != ""))
        self._by_alias: dict[str, list[ResourceRef]] = {}
        self._by_category: dict[str, list[ResourceRef]] = {}
        for ref in self._resources:
            for alias in ref.aliases:
                self._by_alias.setdefault(alias, []).append(ref)
            for category in ref.categories:
                self._by_category.setdefault(category.lower(), []).append(ref)

    @property
    def resources(self) -> tuple[ResourceRef, ...]:
        return self._resources

    def resolve(self, name: str) -> ResourceRef | None:
        text = name.lower()
        if not text or "/" in text or "," in text:
            return None
        head, has_group, rest = text.partition(".")
        candidates = self._by_alias.get(head, [])
        if not has_group:
            return candidates[0] if candidates else None
        # Like kubectl, try TYPE.VERSION.GROUP first, then read everything after TYPE as the group.
        version, has_version, group = rest.partition(".")
        if has_version and _API_VERSION.fullmatch(version):
            for ref in candidates:
                if ref.group == group and (not ref.versions or version in ref.versions):
                    return ref
        for ref in candidates:
            if ref.group == rest:
                return ref
        return None

    def expand_category(self, name: str) -> tuple[ResourceRef, ...]:
        return tuple(self._by_category.get(name.lower(), ()))

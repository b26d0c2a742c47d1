"""Turning a command's operands into resource types, object names and other operands.

Every resource type goes through the catalog; a type it does not know is denied, because an
unknown name cannot be checked (it might be a new spelling of a Secret). A category such as
``all`` stands for its members, and a name that is both a category and a type stands for both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from pilothouse.policy.commands import CommandRule, Operands
from pilothouse.policy.decisions import DecisionCode, deny
from pilothouse.policy.resources import ResourceCatalog, ResourceRef

_TYPE_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")
# Object names: DNS subdomains, plus the ':' and '@' found in RBAC names (system:node-proxier).
_OBJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,252}")
_FIELD_PATH = re.compile(r"[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*")
_ACCESS_VERB = re.compile(r"\*|[a-z][a-z-]*")
_NON_RESOURCE_URL = re.compile(r"/[A-Za-z0-9._~/*-]*")
_EVERY_RESOURCE = "*"


@dataclass(frozen=True)
class ResolvedOperands:
    typed: tuple[tuple[str, ResourceRef], ...] = ()  # (the operand that named it, the type)
    names: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()

    @property
    def resources(self) -> tuple[ResourceRef, ...]:
        return tuple(dict.fromkeys(ref for _token, ref in self.typed))


def resolve_operands(
    rule: CommandRule,
    operands: Sequence[str],
    flags: Mapping[str, str | bool],
    catalog: ResourceCatalog,
    command: str,
) -> ResolvedOperands:
    return _Resolver(rule, flags, catalog, command).resolve(tuple(operands))


class _Resolver:
    def __init__(
        self,
        rule: CommandRule,
        flags: Mapping[str, str | bool],
        catalog: ResourceCatalog,
        command: str,
    ) -> None:
        self._rule = rule
        self._flags = flags
        self._catalog = catalog
        self._command = command
        self._shapes: dict[Operands, Callable[[tuple[str, ...]], ResolvedOperands]] = {
            Operands.NONE: self._none,
            Operands.RESOURCES: self._resources,
            Operands.LOG_TARGET: self._log_target,
            Operands.NAMES: self._names,
            Operands.EXPLAIN: self._explain,
            Operands.ACCESS_CHECK: self._access_check,
            Operands.POD_TARGET: self._pod_target,
            Operands.NEW_OBJECT: self._new_object,
        }

    def resolve(self, operands: tuple[str, ...]) -> ResolvedOperands:
        return self._shapes[self._rule.operands](operands)

    # --- shapes ---------------------------------------------------------------------------------

    def _none(self, operands: tuple[str, ...]) -> ResolvedOperands:
        if operands:
            self._syntax(f"{self._command} takes no operands")
        return ResolvedOperands()

    def _resources(self, operands: tuple[str, ...]) -> ResolvedOperands:
        edits = self._rule.edits
        extras = tuple(op for op in operands if edits is not None and edits.fullmatch(op))
        targets = tuple(op for op in operands if edits is None or not edits.fullmatch(op))
        if not targets:
            self._syntax(f"{self._command} needs a resource: TYPE, TYPE NAME... or TYPE/NAME...")
        with_slash = [op for op in targets if "/" in op]
        if with_slash and len(with_slash) != len(targets):
            self._syntax("mixing TYPE/NAME operands with separate TYPE and NAME operands is ambiguous")
        if with_slash:
            pairs = [self._type_and_name(op) for op in targets]
            typed = tuple(pair for refs, _name in pairs for pair in refs)
            return ResolvedOperands(typed, tuple(name for _refs, name in pairs), extras)
        type_list, *names = targets
        if "" in type_list.split(","):
            self._syntax(f"{type_list!r} is not a comma-separated list of resource types")
        typed = tuple(pair for token in type_list.split(",") for pair in self._types(token))
        return ResolvedOperands(typed, tuple(self._name(name) for name in names), extras)

    def _log_target(self, operands: tuple[str, ...]) -> ResolvedOperands:
        if len(operands) > 2:
            self._syntax(f"{self._command} takes at most a pod (or TYPE/NAME) and a container")
        if not operands:
            if "selector" not in self._flags:
                self._syntax(f"{self._command} needs a pod, a TYPE/NAME or a -l selector")
            return ResolvedOperands(self._fixed_type("pods"))
        target, *container = operands
        typed, name = self._pod_or_type_and_name(target)
        return ResolvedOperands(typed, (name,), tuple(self._name(item) for item in container))

    def _names(self, operands: tuple[str, ...]) -> ResolvedOperands:
        limit = self._rule.max_names
        if limit is not None and len(operands) > limit:
            self._syntax(f"{self._command} takes at most {limit} name(s)")
        typed = self._fixed_type(self._required_resource())
        return ResolvedOperands(typed, tuple(self._name(name) for name in operands))

    def _explain(self, operands: tuple[str, ...]) -> ResolvedOperands:
        if len(operands) != 1:
            self._syntax(f"{self._command} takes one TYPE or TYPE.FIELD.PATH")
        type_token, _dot, field_path = operands[0].partition(".")
        if field_path and not _FIELD_PATH.fullmatch(field_path):
            self._syntax(f"{field_path!r} is not a field path")
        return ResolvedOperands(self._types(type_token), extras=(field_path,) if field_path else ())

    def _access_check(self, operands: tuple[str, ...]) -> ResolvedOperands:
        if self._flags.get("list") is True:
            if operands:
                self._syntax(f"{self._command} --list takes no operands")
            return ResolvedOperands()
        if len(operands) != 2:
            self._syntax(f"{self._command} takes VERB and TYPE, TYPE/NAME or a non-resource URL")
        verb, target = operands
        if not _ACCESS_VERB.fullmatch(verb):
            self._syntax(f"{verb!r} is not an API verb")
        if target == _EVERY_RESOURCE:
            return ResolvedOperands(extras=(verb, target))
        if target.startswith("/"):
            if not _NON_RESOURCE_URL.fullmatch(target):
                self._syntax(f"{target!r} is not a non-resource URL")
            return ResolvedOperands(extras=(verb, target))
        if "/" in target:
            typed, name = self._type_and_name(target)
            return ResolvedOperands(typed, (name,), (verb,))
        return ResolvedOperands(self._types(target), extras=(verb,))

    def _pod_target(self, operands: tuple[str, ...]) -> ResolvedOperands:
        if len(operands) != 1:
            self._syntax(f"{self._command} takes exactly one pod (or TYPE/NAME) before '--'")
        typed, name = self._pod_or_type_and_name(operands[0])
        return ResolvedOperands(typed, (name,))

    def _new_object(self, operands: tuple[str, ...]) -> ResolvedOperands:
        if len(operands) != 1:
            self._syntax(f"{self._command} takes exactly one NAME")
        typed = self._fixed_type(self._required_resource())
        return ResolvedOperands(typed, (self._name(operands[0]),))

    # --- pieces ---------------------------------------------------------------------------------

    def _types(self, token: str) -> tuple[tuple[str, ResourceRef], ...]:
        """Every type ``token`` may stand for: a category's members and the type of that name."""
        if not _TYPE_TOKEN.fullmatch(token):
            self._syntax(f"{token!r} is not a resource type")
        refs = list(self._catalog.expand_category(token))
        resolved = self._catalog.resolve(token)
        if resolved is not None and resolved not in refs:
            refs.append(resolved)
        if not refs:
            deny(
                DecisionCode.UNKNOWN_RESOURCE,
                f"unknown resource type {token!r}: the cluster's API discovery does not list it, "
                "and types that cannot be checked are denied",
            )
        return tuple((token, ref) for ref in refs)

    def _fixed_type(self, plural: str) -> tuple[tuple[str, ResourceRef], ...]:
        resolved = self._catalog.resolve(plural)
        if resolved is None:
            deny(DecisionCode.UNKNOWN_RESOURCE, f"the cluster's API discovery does not list {plural!r}")
        return ((plural, resolved),)

    def _type_and_name(self, operand: str) -> tuple[tuple[tuple[str, ResourceRef], ...], str]:
        type_token, slash, name = operand.partition("/")
        if not slash or "/" in name:
            self._syntax(f"{operand!r} is not TYPE/NAME")
        return self._types(type_token), self._name(name)

    def _pod_or_type_and_name(self, operand: str) -> tuple[tuple[tuple[str, ResourceRef], ...], str]:
        if "/" in operand:
            return self._type_and_name(operand)
        return self._fixed_type("pods"), self._name(operand)

    def _name(self, name: str) -> str:
        if not _OBJECT_NAME.fullmatch(name):
            self._syntax(f"{name!r} is not a valid object name")
        return name

    def _required_resource(self) -> str:
        if self._rule.resource is None:
            raise AssertionError(f"rule for {self._command} has no fixed resource")
        return self._rule.resource

    def _syntax(self, reason: str) -> NoReturn:
        deny(DecisionCode.INVALID_SYNTAX, reason)

"""Logs of running containers: API-server 403s naming a ServiceAccount (cross-checked against its
RoleBindings and their rules), dependencies that refuse or time out, errors and exceptions.

Crashing and unready containers are read by the pods analyzer (their logs explain the crash);
this one reads the containers that look healthy, whose logs are the only sign of trouble.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

from pilothouse.ai import evidence as ev
from pilothouse.ai import logpatterns
from pilothouse.ai.analyzers.common import json_patch
from pilothouse.ai.analyzers.context import AnalysisContext
from pilothouse.ai.findings import Cause, Change, Evidence, Finding, Remediation, ResourceRef
from pilothouse.ai.objects import (
    JsonObject,
    container_statuses,
    d,
    dicts,
    kind_of,
    lst,
    name_of,
    namespace_of,
    s,
)
from pilothouse.ai.snapshot import ClusterSnapshot, LogLines

NAME = "logs"
MAX_PODS_PER_WORKLOAD = 3


@dataclass
class _Denials:
    """403s of one ServiceAccount: which verbs on which resources, and where it was seen."""

    namespace: str
    account: str
    missing: dict[tuple[str, str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    evidence: list[Evidence] = field(default_factory=list)
    pods: list[JsonObject] = field(default_factory=list)


async def analyze(ctx: AnalysisContext) -> list[Finding]:
    snap = ctx.snapshot
    denials: dict[tuple[str, str], _Denials] = {}
    unreachable: dict[str, list[tuple[JsonObject, LogLines, logpatterns.LogMatch, list[JsonObject]]]] = (
        defaultdict(list)
    )
    errors: dict[str, list[tuple[JsonObject, LogLines, logpatterns.LogMatch, int]]] = defaultdict(list)
    roots: dict[str, JsonObject] = {}
    per_root: dict[str, int] = defaultdict(int)
    reads: list[tuple[str, JsonObject, JsonObject]] = []
    for pod in snap.pods:
        if d(pod.get("status")).get("phase") != "Running" or not ctx.may_read_logs(pod):
            continue
        root = snap.root_owner(pod)
        key = str(id(root))
        if per_root[key] >= MAX_PODS_PER_WORKLOAD:
            continue
        per_root[key] += 1
        roots[key] = root
        reads.extend(
            (key, pod, cs) for cs in container_statuses(pod) if d(cs.get("state")).get("running") is not None
        )
    # Read them all at once: the log cache bounds the concurrency.
    results = await asyncio.gather(*(ctx.logs(pod, s(cs.get("name"))) for _, pod, cs in reads))
    for (key, pod, cs), logs in zip(reads, results, strict=True):
        if logs is None or not logs.lines:
            continue
        explained: set[int] = set()
        for match in logpatterns.rbac_denials(logs.lines):
            detail = match.detail
            entry = denials.setdefault(
                (detail["sa_namespace"], detail["sa"]), _Denials(detail["sa_namespace"], detail["sa"])
            )
            entry.missing[(detail["group"], detail["resource"], detail["namespace"])].add(detail["verb"])
            if len(entry.evidence) < 3:
                entry.evidence.append(ev.log(pod, logs, match.index))
            if pod not in entry.pods:
                entry.pods.append(pod)
            explained.add(match.index)
        if cs.get("ready") is not True:
            continue  # the pods analyzer explains unready containers
        for match in reversed(logpatterns.unreachable(logs.lines)):
            services = _services(snap, pod, match)
            if services:
                unreachable[key].append((pod, logs, match, services))
                explained.add(match.index)
                break
        found = [
            m
            for m in logpatterns.errors(logs.lines)
            if m.index not in explained and not logpatterns.is_rbac_denial(m.line)
        ]
        best = logpatterns.most_informative_error([m.line for m in found])
        if best is not None:
            errors[key].append((pod, logs, found[best.index], len(found)))
    findings = [_rbac(snap, entry) for entry in denials.values()]
    findings.extend(_dependency(snap, roots[key], items) for key, items in unreachable.items())
    findings.extend(
        _errors(snap, roots[key], items) for key, items in errors.items() if key not in unreachable
    )
    return findings


def _services(snap: ClusterSnapshot, pod: JsonObject, match: logpatterns.LogMatch) -> list[JsonObject]:
    found: list[JsonObject] = []
    for target in match.detail["hosts"].split():
        service = snap.service_by_host(target.rsplit(":", 1)[0], namespace_of(pod))
        if service is not None and service not in found:
            found.append(service)
    return found


def grants(role: JsonObject, verb: str, resource: str, group: str) -> bool:
    """Whether a Role/ClusterRole's rules allow ``verb`` on ``resource`` in API ``group``."""
    for rule in dicts(role.get("rules")):
        groups = [s(x) for x in lst(rule.get("apiGroups"))]
        resources = [s(x) for x in lst(rule.get("resources"))]
        verbs = [s(x) for x in lst(rule.get("verbs"))]
        names = lst(rule.get("resourceNames"))
        if names and verb in ("list", "watch", "create", "deletecollection"):
            continue  # resourceNames restrict to named objects: no collection verbs
        if (
            ("*" in groups or group in groups)
            and ("*" in resources or resource in resources)
            and ("*" in verbs or verb in verbs)
        ):
            return True
    return False


def _describe_rules(role: JsonObject) -> str:
    parts = []
    for rule in dicts(role.get("rules")):
        groups = ",".join(s(g) or '""' for g in lst(rule.get("apiGroups")))
        parts.append(
            f"{','.join(s(r) for r in lst(rule.get('resources')))}"
            f" [{' '.join(s(v) for v in lst(rule.get('verbs')))}] (apiGroups {groups})"
        )
    return "; ".join(parts) or "no rules"


def _rbac(snap: ClusterSnapshot, entry: _Denials) -> Finding:
    account_ref = ResourceRef(kind="ServiceAccount", namespace=entry.namespace, name=entry.account)
    bindings = snap.bindings_for_service_account(entry.namespace, entry.account)
    bound = [(binding, role) for binding in bindings if (role := snap.role_for_binding(binding)) is not None]
    evidence = list(entry.evidence)
    wanted = sorted(entry.missing.items())
    still_missing = {
        key: {verb for verb in verbs if not any(grants(role, verb, key[1], key[0]) for _, role in bound)}
        for key, verbs in wanted
    }
    denied = "; ".join(
        f"{' '.join(sorted(verbs))} {resource}" + (f" in {namespace}" if namespace else " cluster-wide")
        for (group, resource, namespace), verbs in wanted
    )
    for binding, role in bound:
        evidence.append(
            ev.relation(
                binding,
                "grants",
                role,
                (
                    f"{kind_of(binding)} {name_of(binding)} binds ServiceAccount {entry.account} to"
                    f" {kind_of(role)} {name_of(role)}"
                ),
            )
        )
        evidence.append(
            ev.field(
                role,
                "rules",
                lst(role.get("rules")),
                quote=f"{kind_of(role)} {name_of(role)} grants: {_describe_rules(role)}",
            )
        )
    # Fix where it belongs: the namespaced Role already bound to the account in the namespace of
    # the denial, else (nothing suitable bound) the account itself needs a Role and a binding.
    namespaces = {namespace for (_, _, namespace) in entry.missing}
    roles = [role for binding, role in bound if kind_of(role) == "Role" and namespace_of(role) in namespaces]
    roles.sort(key=lambda role: name_of(role) != entry.account)
    target: JsonObject | ResourceRef = roles[0] if roles else account_ref
    holder = (
        f"its {kind_of(roles[0])} {name_of(roles[0])} grants {_describe_rules(roles[0])}"
        if roles
        else (
            "it has no RoleBinding"
            if not bindings
            else f"none of its roles ({', '.join(name_of(r) for _, r in bound)}) grants it"
        )
    )
    confidence = 0.95 if any(still_missing.values()) else 0.5
    remediation: Remediation | None = None
    if roles and any(still_missing.values()):
        role = roles[0]
        new_rules = [
            {"apiGroups": [group], "resources": [resource], "verbs": sorted(verbs)}
            for (group, resource, namespace), verbs in still_missing.items()
            if verbs and namespace == namespace_of(role)
        ]
        if new_rules:
            sensitive = any(rule["resources"][0] in ("secrets", "*") for rule in new_rules)
            remediation = json_patch(
                role,
                f"Add to Role {name_of(role)}: "
                + "; ".join(f"{' '.join(r['verbs'])} {r['resources'][0]}" for r in new_rules),
                [{"op": "add", "path": "/rules/-", "value": rule} for rule in new_rules],
                [
                    Change(
                        path="rules",
                        current=lst(role.get("rules")),
                        proposed=[*lst(role.get("rules")), *new_rules],
                    )
                ],
                evidence,
                risk="high" if sensitive else "medium",
            )
    roots = list({id(snap.root_owner(p)): snap.root_owner(p) for p in entry.pods}.values())
    return ev.make_finding(
        analyzer=NAME,
        resource=target,
        cause=Cause.RBAC_FORBIDDEN,
        severity="high",
        category="security",
        summary=(
            f"ServiceAccount {entry.namespace}/{entry.account} is forbidden to {denied} (403 in the logs of "
            f"{', '.join(str(ev.ref(r)) for r in roots)}): {holder}"
        ),
        evidence=evidence,
        related=[account_ref, *bindings, *[role for _, role in bound], *roots, *entry.pods],
        recommend=[
            (
                "grant_rbac_permission",
                remediation.description
                if remediation
                else f"Grant ServiceAccount {entry.account} {denied} with a Role and RoleBinding",
            ),
            (
                "reduce_permissions_needed",
                (
                    "Or stop the workload from needing it (e.g. drop the flag that makes it read those"
                    " resources)"
                ),
            ),
        ],
        remediation=remediation,
        confidence=confidence,
    )


def _dependency(
    snap: ClusterSnapshot,
    root: JsonObject,
    items: list[tuple[JsonObject, LogLines, logpatterns.LogMatch, list[JsonObject]]],
) -> Finding:
    services: list[JsonObject] = []
    for _, _, _, found in items:
        services.extend(x for x in found if x not in services)
    match = items[0][2]
    evidence = [ev.log(p, lines, m.index) for p, lines, m, _ in items[:2]]
    names = ", ".join(f"Service {name_of(x)}" for x in services)
    return ev.make_finding(
        analyzer=NAME,
        resource=root,
        cause=Cause.DEPENDENCY_UNREACHABLE,
        severity="medium",
        category="health",
        role="symptom",
        summary=(
            f"{ev.ref(root)} cannot reach {names} ({match.detail['error']}):"
            f' "{ev.clip(match.line.strip(), 140)}"'
        ),
        evidence=evidence,
        related=[*services, *(p for p, _, _, _ in items)],
        depends_on=services,
        recommend=[("fix_dependency", f"See why {names} refuses or drops connections (its own findings)")],
        confidence=0.85,
    )


def _errors(
    snap: ClusterSnapshot,
    root: JsonObject,
    items: list[tuple[JsonObject, LogLines, logpatterns.LogMatch, int]],
) -> Finding:
    logs, match = items[0][1], items[0][2]
    total = sum(n for _, _, _, n in items)
    # 401/403 answers from a peer (not the API server: those are RBAC findings) mean missing or
    # wrong credentials rather than a bug: say so, it changes where to look.
    auth = [
        m
        for _, lines, _, _ in items
        for m in logpatterns.http_auth_failures(lines.lines)
        if not logpatterns.is_rbac_denial(m.line)
    ]
    denied = f"; {len(auth)} of them are 401/403 answers (credentials or permissions)" if auth else ""
    return ev.make_finding(
        analyzer=NAME,
        resource=root,
        cause=Cause.APP_ERRORS,
        severity="low",
        category="health",
        role="symptom",
        summary=(
            f"{ev.ref(root)} logs errors ({total} line{'s' if total != 1 else ''} in the last"
            f' {logs.tail_lines} read{denied}): "{ev.clip(match.line.strip(), 140)}"'
        ),
        evidence=[ev.log(p, lines, m.index) for p, lines, m, _ in items[:2]],
        related=[p for p, _, _, _ in items],
        recommend=[
            ("inspect_logs", f"Read the logs of {ev.ref(root)} around: {ev.clip(match.line.strip(), 100)}")
        ],
        confidence=0.5,
    )

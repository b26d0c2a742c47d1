"""NetworkPolicies that select no pods, and ingress policies that cut a Service off from pods
that call it.

A policy alone proves nothing about who needs to connect: the cutoff is reported only when a pod
the policies do not admit logs that it cannot reach that Service (by DNS name or cluster IP) —
the policy's selectors and the caller's own words, together.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from pilothouse.ai import evidence as ev
from pilothouse.ai import logpatterns
from pilothouse.ai.analyzers.common import json_patch
from pilothouse.ai.analyzers.context import AnalysisContext
from pilothouse.ai.findings import Cause, Change, Evidence, Finding, Remediation
from pilothouse.ai.objects import (
    JsonObject,
    container_statuses,
    d,
    describe_selector,
    dicts,
    kind_of,
    labels_of,
    lst,
    matches_selector,
    name_of,
    namespace_of,
    pod_spec_of,
    resolve_port,
    s,
    uid_of,
)
from pilothouse.ai.snapshot import ClusterSnapshot

NAME = "networkpolicies"
# Callers whose logs are read per policy and Service: enough to find the evidence, bounded.
MAX_CALLERS = 10
_GENERATED_LABELS = (
    "pod-template-hash",
    "controller-revision-hash",
    "statefulset.kubernetes.io/pod-name",
    "controller-uid",
    "job-name",
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
    "pod-template-generation",
    "apps.kubernetes.io/pod-index",
)


async def analyze(ctx: AnalysisContext) -> list[Finding]:
    snap = ctx.snapshot
    findings: list[Finding] = []
    ingress_policies = [p for p in snap.networkpolicies if _isolates_ingress(p)]
    for policy in snap.networkpolicies:
        namespace = namespace_of(policy)
        selector = d(d(policy.get("spec")).get("podSelector"))
        targets = snap.pods_matching(namespace, selector)
        if not targets:
            if selector.get("matchLabels") or selector.get("matchExpressions"):
                findings.append(_selects_nothing(policy, selector))
            continue
        if policy not in ingress_policies:
            continue
        for service in _services(snap, targets):
            finding = await _cutoff(ctx, policy, service, ingress_policies)
            if finding is not None:
                findings.append(finding)
    return findings


def _isolates_ingress(policy: JsonObject) -> bool:
    spec = d(policy.get("spec"))
    types = [s(t) for t in lst(spec.get("policyTypes"))]
    return "Ingress" in types or not types


def _services(snap: ClusterSnapshot, pods: Sequence[JsonObject]) -> list[JsonObject]:
    found: list[JsonObject] = []
    for pod in pods:
        for service in snap.services_for(pod):
            if service not in found:
                found.append(service)
    return found


def _selects_nothing(policy: JsonObject, selector: JsonObject) -> Finding:
    return ev.make_finding(
        analyzer=NAME,
        resource=policy,
        cause=Cause.NETWORKPOLICY_SELECTS_NOTHING,
        severity="low",
        category="security",
        role="risk",
        summary=(
            f"NetworkPolicy {namespace_of(policy)}/{name_of(policy)} selects {describe_selector(selector)},"
            " which matches no pod: it protects nothing"
        ),
        evidence=[
            ev.field(
                policy, "spec.podSelector", selector, quote=f"podSelector: {describe_selector(selector)}"
            )
        ],
        recommend=[
            ("fix_networkpolicy_selector", "Match the podSelector to the pods the policy should protect")
        ],
        confidence=0.8,
    )


def _target_ports(snap: ClusterSnapshot, service: JsonObject, pod: JsonObject) -> list[int]:
    ports = []
    for port in dicts(d(service.get("spec")).get("ports")):
        number = resolve_port(pod_spec_of(pod), port.get("targetPort", port.get("port")))
        if number is not None:
            ports.append(number)
    return ports


def _rule_covers_port(rule: JsonObject, target_pod: JsonObject, ports: Sequence[int]) -> bool:
    rule_ports = list(dicts(rule.get("ports")))
    if not rule_ports:
        return True
    for entry in rule_ports:
        if entry.get("port") is None:
            return True
        number = resolve_port(pod_spec_of(target_pod), entry.get("port"))
        end = entry.get("endPort")
        if number is not None and any(
            number <= p <= (end if isinstance(end, int) else number) for p in ports
        ):
            return True
    return False


def _peer_admits(peer: JsonObject, policy: JsonObject, caller: JsonObject) -> bool | None:
    """Whether a ``from`` peer admits the caller; None when it cannot be told from the snapshot
    (namespace labels are not read), which counts as admitted: never claim a block unsure."""
    pod_selector = peer.get("podSelector")
    namespace_selector = peer.get("namespaceSelector")
    if isinstance(peer.get("ipBlock"), dict):
        block = d(peer.get("ipBlock"))
        ip = s(d(caller.get("status")).get("podIP"))
        try:
            network = ipaddress.ip_network(s(block.get("cidr")), strict=False)
            inside = bool(ip) and ipaddress.ip_address(ip) in network
            excluded = any(
                ip and ipaddress.ip_address(ip) in ipaddress.ip_network(s(x), strict=False)
                for x in lst(block.get("except"))
            )
        except ValueError:
            return None
        return inside and not excluded
    if isinstance(namespace_selector, dict):
        match_labels = d(namespace_selector.get("matchLabels"))
        if namespace_selector and set(match_labels) != {"kubernetes.io/metadata.name"}:
            return None
        if namespace_selector and match_labels.get("kubernetes.io/metadata.name") != namespace_of(caller):
            return False
    elif namespace_of(caller) != namespace_of(policy):
        return False
    if isinstance(pod_selector, dict):
        return matches_selector(labels_of(caller), pod_selector)
    return True


def _admitted(
    policies: Sequence[JsonObject], caller: JsonObject, target: JsonObject, ports: Sequence[int]
) -> bool:
    """Whether any of the policies selecting the target admits the caller on the Service's port."""
    for policy in policies:
        for rule in dicts(d(policy.get("spec")).get("ingress")):
            if not _rule_covers_port(rule, target, ports):
                continue
            peers = list(dicts(rule.get("from")))
            if not peers:
                return True
            if any(_peer_admits(peer, policy, caller) is not False for peer in peers):
                return True
    return False


def _caller_labels(snap: ClusterSnapshot, caller: JsonObject) -> dict[str, str]:
    """The labels that identify the caller's workload: its selector when it has one."""
    root = snap.root_owner(caller)
    match_labels = d(d(d(root.get("spec")).get("selector")).get("matchLabels"))
    if kind_of(root) in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet") and match_labels:
        return {str(k): str(v) for k, v in match_labels.items()}
    return {k: v for k, v in labels_of(caller).items() if k not in _GENERATED_LABELS}


async def _cutoff(
    ctx: AnalysisContext, policy: JsonObject, service: JsonObject, all_policies: Sequence[JsonObject]
) -> Finding | None:
    snap = ctx.snapshot
    targets = snap.pods_selected_by(service)
    if not targets:
        return None
    target = targets[0]
    selecting = [
        p
        for p in all_policies
        if namespace_of(p) == namespace_of(target)
        and matches_selector(labels_of(target), d(d(p.get("spec")).get("podSelector")))
    ]
    if policy not in selecting:
        return None
    ports = _target_ports(snap, service, target)
    target_uids = {uid_of(p) for p in targets}
    # Cheapest test first: in a scan only the failing pods' logs may be read at all.
    candidates = [
        pod
        for pod in snap.pods
        if ctx.may_read_logs(pod)
        and uid_of(pod) not in target_uids
        and d(pod.get("status")).get("phase") == "Running"
        and not _admitted(selecting, pod, target, ports)
    ]
    # The pods in trouble first: they are the likeliest to be the ones cut off.
    candidates.sort(key=lambda pod: all(cs.get("ready") is True for cs in container_statuses(pod)))
    blocked: list[tuple[JsonObject, Evidence]] = []
    for caller in candidates[:MAX_CALLERS]:
        proof = await _complaint(ctx, caller, service)
        if proof is not None:
            blocked.append((caller, proof))
    if not blocked:
        return None
    spec = d(policy.get("spec"))
    rules = list(dicts(spec.get("ingress")))
    admitted = (
        "; ".join(
            ", ".join(_describe_peer(peer) for peer in dicts(rule.get("from"))) or "all sources"
            for rule in rules
        )
        or "nothing"
    )
    callers = list({id(snap.root_owner(c)): snap.root_owner(c) for c, _ in blocked}.values())
    caller_names = ", ".join(str(ev.ref(c)) for c in callers)
    evidence: list[Evidence] = [
        ev.field(
            policy,
            "spec.podSelector",
            d(spec.get("podSelector")),
            quote=(
                f"NetworkPolicy {name_of(policy)} podSelector:"
                f" {describe_selector(d(spec.get('podSelector')))} (the pods behind Service"
                f" {name_of(service)})"
            ),
        ),
        ev.field(policy, "spec.ingress", rules, quote=f"ingress admits: {admitted}{_ports_text(rules)}"),
    ]
    for caller, proof in blocked[:2]:
        evidence.append(
            ev.field(
                caller,
                "metadata.labels",
                labels_of(caller),
                quote=(
                    f"caller pod {name_of(caller)} ({ev.ref(snap.root_owner(caller))}) labels:"
                    f" {','.join(f'{k}={v}' for k, v in _caller_labels(snap, caller).items())}"
                ),
            )
        )
        evidence.append(proof)
    remediation = _admit_callers(snap, policy, callers, blocked, ports, evidence)
    return ev.make_finding(
        analyzer=NAME,
        resource=policy,
        cause=Cause.NETWORKPOLICY_BLOCKS_TRAFFIC,
        severity="high",
        category="health",
        summary=(
            f"NetworkPolicy {namespace_of(policy)}/{name_of(policy)} admits only {admitted} to the pods"
            " behind Service "
            f"{name_of(service)}; {caller_names} {'is' if len(callers) == 1 else 'are'} not admitted and"
            " cannot reach it: "
            f'"{ev.clip(s(blocked[0][1].line).strip(), 140)}"'
        ),
        evidence=evidence,
        related=[
            service,
            *callers,
            *[c for c, _ in blocked],
            *list({id(snap.root_owner(t)): snap.root_owner(t) for t in targets}.values()),
        ],
        recommend=[
            (
                "allow_network_traffic",
                f"Admit {caller_names} in NetworkPolicy {name_of(policy)}"
                + (f": {remediation.description}" if remediation else ""),
            ),
            (
                "review_networkpolicy",
                (
                    f"Or confirm that {caller_names} should not reach {name_of(service)}, and stop it from"
                    " calling"
                ),
            ),
        ],
        remediation=remediation,
        confidence=0.9,
    )


def _describe_peer(peer: JsonObject) -> str:
    parts = []
    if isinstance(peer.get("namespaceSelector"), dict):
        parts.append(f"namespaces {describe_selector(d(peer.get('namespaceSelector')))}")
    if isinstance(peer.get("podSelector"), dict):
        parts.append(f"pods {describe_selector(d(peer.get('podSelector')))}")
    if isinstance(peer.get("ipBlock"), dict):
        parts.append(f"ipBlock {s(d(peer.get('ipBlock')).get('cidr'))}")
    return " in ".join(parts) if parts else "all"


def _ports_text(rules: Sequence[JsonObject]) -> str:
    ports = [
        f"{p.get('port')}/{s(p.get('protocol')) or 'TCP'}" for rule in rules for p in dicts(rule.get("ports"))
    ]
    return f" on port {', '.join(ports)}" if ports else ""


async def _complaint(ctx: AnalysisContext, caller: JsonObject, service: JsonObject) -> Evidence | None:
    """A log line of the caller saying it cannot reach this Service."""
    snap = ctx.snapshot
    for cs in container_statuses(caller):
        logs = await ctx.logs(caller, s(cs.get("name")))
        if logs is None:
            continue
        for match in reversed(logpatterns.unreachable(logs.lines)):
            for target in match.detail["hosts"].split():
                if snap.service_by_host(target.rsplit(":", 1)[0], namespace_of(caller)) is service:
                    return ev.log(caller, logs, match.index)
    return None


def _admit_callers(
    snap: ClusterSnapshot,
    policy: JsonObject,
    callers: Sequence[JsonObject],
    blocked: Sequence[tuple[JsonObject, Evidence]],
    ports: Sequence[int],
    evidence: list[Evidence],
) -> Remediation:
    """A JSON patch adding the callers' workload selectors to the rule that admits traffic on the
    Service's port (or a new rule for that port)."""
    peers = []
    for caller in callers:
        sample = next(c for c, _ in blocked if snap.root_owner(c) is caller)
        peer: JsonObject = {"podSelector": {"matchLabels": _caller_labels(snap, sample)}}
        if namespace_of(sample) != namespace_of(policy):
            peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace_of(sample)}}
        peers.append(peer)
    rules = list(dicts(d(policy.get("spec")).get("ingress")))
    target = next(
        iter(snap.pods_matching(namespace_of(policy), d(d(policy.get("spec")).get("podSelector")))), None
    )
    operations: list[JsonObject] = []
    for index, rule in enumerate(rules):
        if target is not None and _rule_covers_port(rule, target, ports) and lst(rule.get("from")):
            operations = [
                {"op": "add", "path": f"/spec/ingress/{index}/from/-", "value": peer} for peer in peers
            ]
            path = f"spec.ingress[{index}].from"
            current = lst(rule.get("from"))
            break
    else:
        new_rule: JsonObject = {"from": peers}
        if ports:
            new_rule["ports"] = [{"protocol": "TCP", "port": p} for p in ports]
        operations = [
            {
                "op": "add",
                "path": "/spec/ingress" + ("/-" if rules else ""),
                "value": new_rule if rules else [new_rule],
            }
        ]
        path, current = "spec.ingress", rules
    described = ", ".join(describe_selector(p["podSelector"]) for p in peers)
    return json_patch(
        policy,
        f"Admit pods {described} in NetworkPolicy {name_of(policy)}",
        operations,
        [Change(path=path, current=current, proposed=[*current, *peers])],
        evidence,
    )

"""Services: selectors that match no pod (with the near-miss pods they were probably meant to
select), selected pods none of which is ready, and target ports the selected pods do not expose.

A Service whose pods exist but are not ready is a symptom (the pods analyzer says why); a
selector that matches nothing while a pod exposing the Service's port is labelled almost the
same, or a targetPort no selected container declares, is a cause in the Service itself.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from pilothouse.ai import evidence as ev
from pilothouse.ai.analyzers.common import json_patch
from pilothouse.ai.analyzers.context import AnalysisContext
from pilothouse.ai.findings import Cause, Change, Evidence, Finding, Remediation
from pilothouse.ai.objects import (
    JsonObject,
    d,
    declared_ports,
    dicts,
    i,
    labels_of,
    lst,
    name_of,
    namespace_of,
    pod_spec_of,
    port_exposed,
    s,
    template_labels,
)
from pilothouse.ai.snapshot import ClusterSnapshot

NAME = "services"


async def analyze(ctx: AnalysisContext) -> list[Finding]:
    snap = ctx.snapshot
    findings = []
    for service in snap.services:
        spec = d(service.get("spec"))
        selector = d(spec.get("selector"))
        if not selector or spec.get("type") == "ExternalName":
            continue  # endpoints managed by hand, or a DNS alias: nothing to match
        pods = [
            p
            for p in snap.pods_selected_by(service)
            if d(p.get("status")).get("phase") not in ("Succeeded", "Failed")
        ]
        if not pods:
            findings.append(_selects_nothing(snap, service, selector))
            continue
        mismatch = _target_port_mismatch(snap, service, pods)
        if mismatch is not None:
            findings.append(mismatch)
        ready = [p for p in pods if _pod_ready(p)]
        if not ready:
            findings.append(_no_ready_endpoints(snap, service, pods))
    return findings


def _pod_ready(pod: JsonObject) -> bool:
    for cond in dicts(d(pod.get("status")).get("conditions")):
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _describe(selector: dict[str, object]) -> str:
    return ",".join(f"{k}={v}" for k, v in selector.items())


def _endpoint_evidence(snap: ClusterSnapshot, service: JsonObject) -> list[Evidence]:
    endpoints = snap.endpoints_for(service)
    if endpoints is None:
        return []
    subsets = lst(endpoints.get("subsets"))
    ready = sum(len(lst(x.get("addresses"))) for x in dicts(subsets))
    not_ready = sum(len(lst(x.get("notReadyAddresses"))) for x in dicts(subsets))
    ports = sorted({i(p.get("port")) for x in dicts(subsets) for p in dicts(x.get("ports"))})
    port_text = f" on port {', '.join(map(str, ports))}" if ports else ""
    return [
        ev.field(
            endpoints,
            "subsets",
            subsets,
            quote=(
                f"Endpoints {name_of(endpoints)}: {ready} ready, {not_ready} not ready address(es){port_text}"
            ),
        )
    ]


@dataclass
class _NearMiss:
    pod: JsonObject
    differing: dict[str, str]
    exposes_port: bool
    score: float


def _near_misses(snap: ClusterSnapshot, service: JsonObject, selector: dict[str, object]) -> list[_NearMiss]:
    """Pods labelled almost as the selector asks: every selector key present, one value different,
    and either named like the Service or spelled closely while exposing its target port."""
    ports = [p.get("targetPort", p.get("port")) for p in dicts(d(service.get("spec")).get("ports"))]
    found = []
    for pod in snap.pods_in(namespace_of(service)):
        labels = labels_of(pod)
        if not all(str(k) in labels for k in selector):
            continue
        differing = {str(k): labels[str(k)] for k, v in selector.items() if labels[str(k)] != str(v)}
        if len(differing) != 1:
            continue
        spec = pod_spec_of(pod)
        exposes = any(port_exposed(spec, port) for port in ports if port is not None)
        named = name_of(service) in differing.values() or name_of(snap.root_owner(pod)) == name_of(service)
        if not exposes and not named:
            continue
        similarity = max(
            difflib.SequenceMatcher(None, str(selector[k]), v).ratio() for k, v in differing.items()
        )
        found.append(_NearMiss(pod, differing, exposes, exposes * 2 + named * 2 + similarity))
    return sorted(found, key=lambda m: -m.score)


def _selects_nothing(snap: ClusterSnapshot, service: JsonObject, selector: dict[str, object]) -> Finding:
    evidence = [
        ev.field(
            service,
            "spec.selector",
            selector,
            quote=f"Service {name_of(service)} selector: {_describe(selector)}",
        )
    ]
    evidence.extend(_endpoint_evidence(snap, service))
    # A workload whose template matches exists but runs no pods: the Service is fine, the
    # workload is not (its own findings say why).
    owners = [
        w
        for w in [*snap.deployments, *snap.statefulsets, *snap.daemonsets]
        if namespace_of(w) == namespace_of(service)
        and all(template_labels(w).get(str(k)) == str(v) for k, v in selector.items())
    ]
    if owners:
        names = ", ".join(str(ev.ref(w)) for w in owners)
        return ev.make_finding(
            analyzer=NAME,
            resource=service,
            cause=Cause.SERVICE_NO_ENDPOINTS,
            severity="high",
            category="health",
            role="symptom",
            summary=(
                f"Service {namespace_of(service)}/{name_of(service)} has no endpoints: {names}, whose pods it"
                " selects, has no pods"
            ),
            evidence=evidence,
            related=owners,
            depends_on=owners,
            recommend=[("investigate_workload", f"See why {names} has no pods (its own findings)")],
            confidence=0.85,
        )
    misses = _near_misses(snap, service, selector)
    if misses:
        best = misses[0]
        owner = snap.root_owner(best.pod)
        labels = labels_of(best.pod)
        shown = ",".join(f"{k}={labels[k]}" for k in selector if k in labels)
        exposes = " and exposes the Service's target port" if best.exposes_port else ""
        evidence.append(
            ev.field(
                best.pod,
                "metadata.labels",
                labels,
                quote=f"pod {name_of(best.pod)} ({ev.ref(owner)}) is labelled {shown}{exposes}",
            )
        )
        proposed = {**{str(k): str(v) for k, v in selector.items()}, **best.differing}
        fix = json_patch(
            service,
            f"Make Service {name_of(service)} select {_describe(dict(proposed))} ({ev.ref(owner)})",
            [
                {
                    "op": "replace",
                    "path": f"/spec/selector/{k.replace('~', '~0').replace('/', '~1')}",
                    "value": v,
                }
                for k, v in best.differing.items()
            ],
            [Change(path="spec.selector", current=dict(selector), proposed=proposed)],
            evidence,
        )
        consumers = [ev.ref(owner), *[ev.ref(m.pod) for m in misses[:3]]]
        return ev.make_finding(
            analyzer=NAME,
            resource=service,
            cause=Cause.SERVICE_SELECTOR_MISMATCH,
            severity="high",
            category="health",
            summary=(
                f"Service {namespace_of(service)}/{name_of(service)} selects {_describe(selector)}, which"
                " matches no pod, so it has "
                f"no endpoints; {ev.ref(owner)}'s pod {name_of(best.pod)} is labelled {shown}{exposes}"
            ),
            evidence=evidence,
            related=consumers,
            recommend=[
                (
                    "fix_service_selector",
                    f"Change the selector of Service {name_of(service)} to {_describe(dict(proposed))}",
                ),
                ("relabel_pods", f"Or label the pods of {ev.ref(owner)} {_describe(selector)}"),
            ],
            remediation=fix,
            confidence=0.9 if best.exposes_port else 0.75,
        )
    return ev.make_finding(
        analyzer=NAME,
        resource=service,
        cause=Cause.SERVICE_NO_ENDPOINTS,
        severity="medium",
        category="health",
        summary=(
            f"Service {namespace_of(service)}/{name_of(service)} selects {_describe(selector)}, which matches"
            " no pod: it has no endpoints"
        ),
        evidence=evidence,
        recommend=[
            (
                "fix_service_selector",
                f"Check the selector {_describe(selector)} against the labels of the pods it should reach",
            )
        ],
        confidence=0.7,
    )


def _no_ready_endpoints(snap: ClusterSnapshot, service: JsonObject, pods: list[JsonObject]) -> Finding:
    owners = []
    for pod in pods:
        owner = snap.root_owner(pod)
        if owner not in owners:
            owners.append(owner)
    evidence = _endpoint_evidence(snap, service) or [
        ev.field(service, "spec.selector", d(d(service.get("spec")).get("selector")))
    ]
    return ev.make_finding(
        analyzer=NAME,
        resource=service,
        cause=Cause.SERVICE_NO_READY_ENDPOINTS,
        severity="high",
        category="health",
        role="symptom",
        summary=(
            f"Service {namespace_of(service)}/{name_of(service)} has no ready endpoints: none of its "
            f"{len(pods)} pod{'s' if len(pods) != 1 else ''}"
            f" ({', '.join(str(ev.ref(o)) for o in owners[:3])}) is Ready"
        ),
        evidence=evidence,
        related=[*owners, *pods],
        depends_on=[*owners, *pods[:5]],
        recommend=[("investigate_pods", "See why the selected pods are not Ready (their own findings)")],
        confidence=0.9,
    )


def _target_port_mismatch(
    snap: ClusterSnapshot, service: JsonObject, pods: list[JsonObject]
) -> Finding | None:
    for index, port in enumerate(dicts(d(service.get("spec")).get("ports"))):
        target = port.get("targetPort", port.get("port"))
        verdicts = [port_exposed(pod_spec_of(p), target) for p in pods]
        if not verdicts or any(v is not False for v in verdicts):
            continue  # some pod exposes it, or the pods declare no ports (nothing to conclude)
        pod = pods[0]
        declared = declared_ports(pod_spec_of(pod))
        listing = ", ".join(
            f"{p.get('containerPort')}{'/' + s(p.get('name')) if p.get('name') else ''}" for p in declared
        )
        owner = snap.root_owner(pod)
        evidence = [
            ev.field(
                service,
                f"spec.ports[{index}]",
                port,
                quote=f"Service {name_of(service)} port {port.get('port')} -> targetPort {target}",
            ),
            ev.field(
                pod,
                "spec.containers[*].ports",
                declared,
                quote=f"pod {name_of(pod)} ({ev.ref(owner)}) declares container ports {listing}",
            ),
            *_endpoint_evidence(snap, service),
        ]
        candidate = _port_candidate(port, declared)
        fix: Remediation | None = None
        recommend = [
            (
                "fix_service_target_port",
                (
                    f"Set targetPort of Service {name_of(service)} port {port.get('port')} to a port the pods"
                    f" listen on ({listing})"
                ),
            )
        ]
        if candidate is not None:
            recommend[0] = (
                "fix_service_target_port",
                (
                    f"Change targetPort of Service {name_of(service)} port {port.get('port')} from {target}"
                    f" to {candidate}"
                ),
            )
            fix = json_patch(
                service,
                (
                    f"Change targetPort of Service {name_of(service)} port {port.get('port')} from {target}"
                    f" to {candidate}"
                ),
                [{"op": "replace", "path": f"/spec/ports/{index}/targetPort", "value": candidate}],
                [Change(path=f"spec.ports[{index}].targetPort", current=target, proposed=candidate)],
                evidence,
            )
        return ev.make_finding(
            analyzer=NAME,
            resource=service,
            cause=Cause.SERVICE_TARGETPORT_MISMATCH,
            severity="high",
            category="health",
            summary=(
                f"Service {namespace_of(service)}/{name_of(service)} forwards port {port.get('port')} to"
                f" targetPort {target}, "
                f"but its pods ({ev.ref(owner)}) only declare {listing}: connections are refused"
            ),
            evidence=evidence,
            related=[owner, *pods[:10]],
            recommend=recommend,
            remediation=fix,
            confidence=0.85,
        )
    return None


def _port_candidate(port: JsonObject, declared: list[JsonObject]) -> int | str | None:
    """The container port the Service port means: one with the Service port's name, else the
    only one declared."""
    name = s(port.get("name"))
    if name and any(p.get("name") == name for p in declared):
        return name
    numbers = sorted({i(p.get("containerPort")) for p in declared if i(p.get("containerPort"))})
    return numbers[0] if len(numbers) == 1 else None

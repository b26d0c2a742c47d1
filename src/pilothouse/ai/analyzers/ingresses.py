"""Ingresses whose class, backend Service (or its port) or TLS Secret does not exist."""

from __future__ import annotations

from pilothouse.ai import evidence as ev
from pilothouse.ai.analyzers.context import AnalysisContext
from pilothouse.ai.findings import Cause, Evidence, Finding, ResourceRef
from pilothouse.ai.objects import JsonObject, annotations_of, d, dicts, name_of, namespace_of, s
from pilothouse.ai.snapshot import ClusterSnapshot

NAME = "ingresses"
DEFAULT_CLASS = "ingressclass.kubernetes.io/is-default-class"
LEGACY_CLASS = "kubernetes.io/ingress.class"


async def analyze(ctx: AnalysisContext) -> list[Finding]:
    snap = ctx.snapshot
    findings: list[Finding] = []
    for ingress in snap.ingresses:
        findings.extend(_ingress(snap, ingress))
    return findings


def _ingress(snap: ClusterSnapshot, ingress: JsonObject) -> list[Finding]:
    findings = []
    namespace = namespace_of(ingress)
    spec = d(ingress.get("spec"))
    class_name = s(spec.get("ingressClassName")) or annotations_of(ingress).get(LEGACY_CLASS, "")
    classes = [name_of(c) for c in snap.ingressclasses]
    defaults = [name_of(c) for c in snap.ingressclasses if annotations_of(c).get(DEFAULT_CLASS) == "true"]
    if "ingressclasses" not in snap.errors:
        if class_name and class_name not in classes:
            findings.append(
                ev.make_finding(
                    analyzer=NAME,
                    resource=ingress,
                    cause=Cause.INGRESS_CLASS_MISSING,
                    severity="high",
                    category="health",
                    summary=(
                        f"Ingress {namespace}/{name_of(ingress)} uses IngressClass {class_name}, which does"
                        f" not exist (classes: {', '.join(classes) or 'none'}); no controller serves it"
                    ),
                    evidence=[
                        ev.field(ingress, "spec.ingressClassName", class_name),
                        ev.existence(
                            ResourceRef(kind="IngressClass", name=class_name),
                            False,
                            f"IngressClass {class_name}: not found",
                        ),
                    ],
                    recommend=[
                        (
                            "fix_ingress_class",
                            (
                                "Set spec.ingressClassName to one of:"
                                f" {', '.join(classes) or '(install an ingress controller)'}"
                            ),
                        )
                    ],
                    confidence=0.9,
                )
            )
        elif not class_name and not defaults:
            findings.append(
                ev.make_finding(
                    analyzer=NAME,
                    resource=ingress,
                    cause=Cause.INGRESS_CLASS_MISSING,
                    severity="medium",
                    category="health",
                    summary=(
                        f"Ingress {namespace}/{name_of(ingress)} names no IngressClass and the cluster has no"
                        f" default one (classes: {', '.join(classes) or 'none'})"
                    ),
                    evidence=[
                        ev.field(
                            ingress,
                            "spec.ingressClassName",
                            None,
                            quote="spec.ingressClassName: not set; no IngressClass is marked default",
                        )
                    ],
                    recommend=[
                        (
                            "set_ingress_class",
                            "Set spec.ingressClassName, or mark an IngressClass as the default",
                        )
                    ],
                    confidence=0.75,
                )
            )
    missing_backends: list[tuple[str, str, Evidence]] = []
    backends = [("spec.defaultBackend", d(spec.get("defaultBackend")))] if spec.get("defaultBackend") else []
    for r, rule in enumerate(dicts(spec.get("rules"))):
        for p, entry in enumerate(dicts(d(rule.get("http")).get("paths"))):
            backends.append((f"spec.rules[{r}].http.paths[{p}].backend", d(entry.get("backend"))))
    for path, backend in backends:
        service = d(backend.get("service"))
        name = s(service.get("name"))
        if not name:
            continue
        target = snap.get("Service", namespace, name)
        port = d(service.get("port"))
        if target is None:
            if snap.knows("Service", namespace):
                missing_backends.append(
                    (
                        name,
                        "does not exist",
                        ev.field(
                            ingress, f"{path}.service", service, quote=f"{path}: Service {name} (not found)"
                        ),
                    )
                )
            continue
        wanted = port.get("number") or port.get("name")
        ports = list(dicts(d(target.get("spec")).get("ports")))
        if wanted is not None and not any(p.get("port") == wanted or p.get("name") == wanted for p in ports):
            listing = ", ".join(str(p.get("name") or p.get("port")) for p in ports)
            missing_backends.append(
                (
                    name,
                    f"has no port {wanted} (ports: {listing})",
                    ev.field(ingress, f"{path}.service.port", port),
                )
            )
    if missing_backends:
        what = "; ".join(f"Service {n} {why}" for n, why, _ in missing_backends)
        findings.append(
            ev.make_finding(
                analyzer=NAME,
                resource=ingress,
                cause=Cause.INGRESS_BACKEND_MISSING,
                severity="high",
                category="health",
                summary=(
                    f"Ingress {namespace}/{name_of(ingress)} routes to a backend that cannot answer: {what}"
                ),
                evidence=[e for _, _, e in missing_backends],
                related=[
                    ResourceRef(kind="Service", namespace=namespace, name=n) for n, _, _ in missing_backends
                ],
                recommend=[
                    ("fix_ingress_backend", f"Point the Ingress at an existing Service and port: {what}")
                ],
                confidence=0.9,
            )
        )
    for t, tls in enumerate(dicts(spec.get("tls"))):
        secret = s(tls.get("secretName"))
        if secret and snap.knows("Secret", namespace) and snap.get("Secret", namespace, secret) is None:
            findings.append(
                ev.make_finding(
                    analyzer=NAME,
                    resource=ingress,
                    cause=Cause.INGRESS_TLS_SECRET_MISSING,
                    severity="high",
                    category="security",
                    summary=(
                        f"Ingress {namespace}/{name_of(ingress)} terminates TLS with Secret {secret}, which"
                        " does not exist; the controller serves a default certificate"
                    ),
                    evidence=[
                        ev.field(ingress, f"spec.tls[{t}].secretName", secret),
                        ev.existence(
                            ResourceRef(kind="Secret", namespace=namespace, name=secret),
                            False,
                            f"Secret {namespace}/{secret}: not found",
                        ),
                    ],
                    recommend=[
                        (
                            "create_tls_secret",
                            f"Create TLS Secret {secret} in {namespace} (or let cert-manager issue it)",
                        )
                    ],
                    confidence=0.9,
                )
            )
    return findings

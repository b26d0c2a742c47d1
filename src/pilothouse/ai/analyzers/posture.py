"""Security and reliability posture of every pod template (insights): privileged containers,
host namespaces, root, missing limits, the default ServiceAccount, secrets in env vars.

One finding per workload and concern (not per pod): the template is what must change. Secret
values are never quoted, only where they are.
"""

from __future__ import annotations

import re

from pilothouse.ai import evidence as ev
from pilothouse.ai.analyzers.context import AnalysisContext
from pilothouse.ai.findings import Cause, Evidence, Finding
from pilothouse.ai.objects import (
    JsonObject,
    containers,
    d,
    dicts,
    pod_spec_of,
    pod_spec_path,
    resources_of,
    s,
)
from pilothouse.ai.snapshot import ClusterSnapshot

NAME = "posture"
_SECRET_NAME = re.compile(
    r"PASSW(?:OR)?D|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|ACCESS_?KEY", re.IGNORECASE
)


async def analyze(ctx: AnalysisContext) -> list[Finding]:
    findings: list[Finding] = []
    for workload in templates(ctx.snapshot):
        findings.extend(_posture(workload))
    return findings


def templates(snap: ClusterSnapshot) -> list[JsonObject]:
    """Every object whose pod template nothing above it controls: top workloads and bare pods."""
    found: list[JsonObject] = []
    for attr in ("deployments", "statefulsets", "daemonsets", "cronjobs", "jobs", "replicasets"):
        found.extend(obj for obj in getattr(snap, attr) if snap.controller_of(obj) is None)
    found.extend(
        pod
        for pod in snap.pods
        if snap.controller_of(pod) is None and not d(pod.get("metadata")).get("ownerReferences")
    )
    return found


def _posture(workload: JsonObject) -> list[Finding]:
    spec = pod_spec_of(workload)
    base = pod_spec_path(workload)
    pod_context = d(spec.get("securityContext"))
    findings = []
    all_containers = [(c, False, n) for n, c in enumerate(containers(spec))] + [
        (c, True, n) for n, c in enumerate(containers(spec, init=True))
    ]
    privileged: list[Evidence] = []
    root: list[Evidence] = []
    maybe_root: list[str] = []
    no_limits: list[Evidence] = []
    literal_secrets: list[Evidence] = []
    secret_refs: list[str] = []
    for container, init, index in all_containers:
        name = s(container.get("name"))
        path = f"{base}.{'initContainers' if init else 'containers'}[{index}]"
        context = d(container.get("securityContext"))
        if context.get("privileged") is True:
            privileged.append(
                ev.field(
                    workload,
                    f"{path}.securityContext.privileged",
                    True,
                    quote=f"container {name}: securityContext.privileged: true",
                )
            )
        user = context.get("runAsUser", pod_context.get("runAsUser"))
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if isinstance(user, int) and user == 0:
            root.append(
                ev.field(
                    workload, f"{path}.securityContext.runAsUser", 0, quote=f"container {name}: runAsUser: 0"
                )
            )
        elif non_root is not True and not (isinstance(user, int) and user > 0):
            maybe_root.append(name)
        if not init:
            limits = resources_of(container)[1]
            if "memory" not in limits:
                no_limits.append(
                    ev.field(
                        workload,
                        f"{path}.resources.limits",
                        limits,
                        quote=f"container {name}: no memory limit{'' if limits else ' (no limits at all)'}",
                    )
                )
        for e, entry in enumerate(dicts(container.get("env"))):
            variable = s(entry.get("name"))
            if "value" in entry and s(entry.get("value")) and _SECRET_NAME.search(variable):
                # Where, never what: the value itself must not be copied anywhere.
                literal_secrets.append(
                    ev.field(
                        workload,
                        f"{path}.env[{e}].name",
                        variable,
                        quote=f"container {name}: env {variable} has a literal value in the spec",
                    )
                )
            elif d(d(entry.get("valueFrom")).get("secretKeyRef")):
                secret_refs.append(f"{name}:{variable}")
    ref = ev.ref(workload)
    if privileged:
        findings.append(
            _finding(
                workload,
                Cause.PRIVILEGED_CONTAINER,
                "high",
                "security",
                f"{ref} runs privileged containers ({len(privileged)}): full access to the node",
                privileged,
                ("drop_privileged", "Remove securityContext.privileged; grant only the capabilities needed"),
            )
        )
    host = [key for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key) is True]
    if host:
        findings.append(
            _finding(
                workload,
                Cause.HOST_NAMESPACES,
                "medium",
                "security",
                f"{ref} shares the node's {', '.join(host)}",
                [ev.field(workload, f"{base}.{key}", True) for key in host],
                (
                    "drop_host_namespaces",
                    f"Remove {', '.join(host)} unless the workload is a node agent that needs it",
                ),
            )
        )
    if root:
        findings.append(
            _finding(
                workload,
                Cause.RUNS_AS_ROOT,
                "medium",
                "security",
                f"{ref} runs containers as root (runAsUser 0)",
                root,
                ("run_as_non_root", "Run as a non-root user (runAsNonRoot: true, runAsUser > 0)"),
            )
        )
    elif maybe_root:
        findings.append(
            _finding(
                workload,
                Cause.RUNS_AS_ROOT,
                "low",
                "security",
                (
                    f"{ref} does not set runAsNonRoot: containers {', '.join(maybe_root)} may run as root"
                    " (the image decides)"
                ),
                [
                    ev.field(
                        workload,
                        f"{base}.securityContext",
                        pod_context,
                        quote=f"no runAsNonRoot/runAsUser for {', '.join(maybe_root)}",
                    )
                ],
                ("run_as_non_root", "Set securityContext.runAsNonRoot: true"),
            )
        )
    if no_limits:
        findings.append(
            _finding(
                workload,
                Cause.NO_RESOURCE_LIMITS,
                "low",
                "reliability",
                f"{ref} sets no memory limit on {len(no_limits)} container(s): one leak can exhaust the node",
                no_limits,
                ("set_memory_limits", "Set memory limits (and requests) from measured usage"),
            )
        )
    account = s(spec.get("serviceAccountName")) or s(spec.get("serviceAccount")) or "default"
    if account == "default" and spec.get("automountServiceAccountToken") is not False:
        findings.append(
            _finding(
                workload,
                Cause.DEFAULT_SERVICE_ACCOUNT,
                "low",
                "security",
                f"{ref} runs as the default ServiceAccount with its token mounted",
                [
                    ev.field(
                        workload,
                        f"{base}.serviceAccountName",
                        spec.get("serviceAccountName"),
                        quote=f"serviceAccountName: {account}; automountServiceAccountToken not false",
                    )
                ],
                (
                    "dedicated_service_account",
                    "Give it its own ServiceAccount, or set automountServiceAccountToken: false",
                ),
            )
        )
    if literal_secrets:
        findings.append(
            _finding(
                workload,
                Cause.SECRET_IN_ENV,
                "medium",
                "security",
                (
                    f"{ref} has secret-looking env vars with literal values in its spec"
                    f" ({', '.join(s(e.value) for e in literal_secrets)})"
                ),
                literal_secrets,
                (
                    "move_secret_to_secret",
                    "Move the values into a Secret and reference it (preferably mounted as a file)",
                ),
            )
        )
    elif secret_refs:
        findings.append(
            _finding(
                workload,
                Cause.SECRET_IN_ENV,
                "info",
                "security",
                f"{ref} exposes Secret values as environment variables ({', '.join(secret_refs[:5])})",
                [
                    ev.field(
                        workload,
                        f"{base}.containers[*].env",
                        secret_refs,
                        quote=f"env from secretKeyRef: {', '.join(secret_refs[:5])}",
                    )
                ],
                (
                    "mount_secrets",
                    "Prefer mounting Secrets as files: env vars leak into crash dumps and child processes",
                ),
            )
        )
    return findings


def _finding(
    workload: JsonObject,
    cause: Cause,
    severity: str,
    category: str,
    summary: str,
    evidence: list[Evidence],
    recommend: tuple[str, str],
) -> Finding:
    return ev.make_finding(
        analyzer=NAME,
        resource=workload,
        cause=cause,
        severity="high"
        if severity == "high"
        else "medium"
        if severity == "medium"
        else "low"
        if severity == "low"
        else "info",
        category="security" if category == "security" else "reliability",
        role="risk",
        summary=summary,
        evidence=evidence,
        recommend=[recommend],
        confidence=0.9,
    )

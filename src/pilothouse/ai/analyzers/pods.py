"""Pods: every waiting reason a kubelet reports, crashes and their causes, probes, scheduling,
evictions and pods stuck terminating.

Each unhealthy container is diagnosed once, to its most specific cause: a CrashLoopBackOff is
explained by an OOM kill, a liveness probe the kubelet acted on, or what the crashed instance
logged (a missing environment variable, an unreachable dependency) before it falls back to the
generic crash loop. Pods of one workload with the same cause make one finding on the workload
(its pods in ``related``), since the fix belongs to the template, not to a pod.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from pilothouse.ai import evidence as ev
from pilothouse.ai import logpatterns
from pilothouse.ai.analyzers.common import (
    TEMPLATED,
    blocking_taints,
    container_path,
    describe_taint,
    json_patch,
    json_pointer,
    node_ready,
    node_selected,
    previous_revision,
    rollback_or_restart,
    toleration_for,
)
from pilothouse.ai.analyzers.context import AnalysisContext
from pilothouse.ai.findings import (
    SEVERITY_RANK,
    Category,
    Cause,
    Change,
    Evidence,
    Finding,
    Remediation,
    ResourceRef,
    Role,
    Severity,
)
from pilothouse.ai.objects import (
    JsonObject,
    annotations_of,
    condition,
    container_spec,
    container_statuses,
    containers,
    d,
    dicts,
    format_memory,
    i,
    kind_of,
    labels_of,
    lst,
    meta,
    name_of,
    namespace_of,
    normalize_repository,
    pod_spec_of,
    port_exposed,
    probe_port,
    quantity,
    registry_of,
    resources_of,
    s,
    split_image,
)
from pilothouse.ai.snapshot import ClusterSnapshot, LogLines

NAME = "pods"
PULL_REASONS = (
    "ImagePullBackOff",
    "ErrImagePull",
    "ErrImageNeverPull",
    "RegistryUnavailable",
    "SignatureValidationFailed",
)
RUN_REASONS = (
    "CreateContainerError",
    "RunContainerError",
    "ContainerCannotRun",
    "PreStartHookError",
    "PostStartHookError",
    "StartError",
)
STARTING_REASONS = ("ContainerCreating", "PodInitializing", "")
MAX_EVIDENCE_PODS = 3
# A container running again is still worth a finding if it last died this recently.
RECENT_RESTART_SECONDS = 3600
# A terminating pod is "stuck" once it outlives its deletion deadline by this much.
STUCK_TERMINATING_SECONDS = 120

Fix = Callable[[JsonObject], Remediation | None]


@dataclass
class Issue:
    """One pod's problem, before pods with the same problem are merged into a finding."""

    cause: Cause
    severity: Severity
    summary: str
    evidence: list[Evidence]
    role: Role = "cause"
    category: Category = "health"
    container: str = ""
    depends_on: list[ResourceRef] = field(default_factory=list)
    recommend: list[tuple[str, str]] = field(default_factory=list)
    confidence: float = 0.8
    fix: Fix | None = None
    related: list[ResourceRef] = field(default_factory=list)


async def analyze(ctx: AnalysisContext) -> list[Finding]:
    snap = ctx.snapshot
    candidates = [pod for pod in snap.pods if looks_unhealthy(pod)]
    results = await asyncio.gather(*(_pod_issues(ctx, pod) for pod in candidates))
    # One finding per workload and cause (its id is derived from exactly those): the pods and
    # containers that share the cause are merged into it.
    groups: dict[tuple[int, Cause], list[tuple[JsonObject, Issue]]] = defaultdict(list)
    for pod, issues in zip(candidates, results, strict=True):
        root = snap.root_owner(pod)
        for issue in issues:
            groups[(id(root), issue.cause)].append((pod, issue))
    findings = []
    for items in groups.values():
        findings.append(_finding(snap, items))
    return findings


def looks_unhealthy(pod: JsonObject) -> bool:
    """A cheap first filter: most pods of a cluster are fine and need no further look."""
    status = d(pod.get("status"))
    if meta(pod).get("deletionTimestamp") or status.get("reason"):
        return True
    phase = status.get("phase")
    if phase == "Succeeded":
        return False
    if phase != "Running":
        return True
    for init in (False, True):
        for cs in container_statuses(pod, init=init):
            if not init and cs.get("ready") is not True:
                return True
            if i(cs.get("restartCount")) > 0 or d(cs.get("state")).get("waiting"):
                return True
    return False


def _finding(snap: ClusterSnapshot, items: list[tuple[JsonObject, Issue]]) -> Finding:
    pod, issue = items[0]
    root = snap.root_owner(pod)
    pods = list({id(p): p for p, _ in items}.values())
    evidence: list[Evidence] = list(issue.evidence)
    for _, other in items[1:MAX_EVIDENCE_PODS]:
        evidence.extend(other.evidence[:2])
    severity = max((it.severity for _, it in items), key=lambda sev: SEVERITY_RANK[sev])
    summary = issue.summary
    others = sorted({it.container for _, it in items if it.container and it.container != issue.container})
    if others:
        summary += f"; likewise container{'s' if len(others) > 1 else ''} {', '.join(others)}"
    if root is not pod:
        total = len(snap.pods_of(root))
        summary = f"{ev.ref(root)}: {summary} ({len(pods)} of {total} pod{'s' if total != 1 else ''})"
    else:
        summary = f"{ev.ref(pod)}: {summary}"
    depends = [ref for _, it in items for ref in it.depends_on]
    related: list[JsonObject | ResourceRef] = [*snap.owner_chain(pod), *pods, *issue.related]
    return ev.make_finding(
        analyzer=NAME,
        resource=root,
        cause=issue.cause,
        severity=severity,
        category=issue.category,
        summary=summary,
        evidence=evidence,
        role=issue.role,
        related=related,
        depends_on=depends,
        recommend=issue.recommend,
        remediation=issue.fix(root) if issue.fix is not None else None,
        confidence=issue.confidence,
    )


async def _pod_issues(ctx: AnalysisContext, pod: JsonObject) -> list[Issue]:
    snap = ctx.snapshot
    status = d(pod.get("status"))
    if meta(pod).get("deletionTimestamp"):
        issue = _terminating(snap, pod)
        return [issue] if issue else []
    if status.get("reason") == "Evicted":
        return [_evicted(snap, pod)]
    scheduled = condition(pod, "PodScheduled")
    if (
        scheduled is not None
        and scheduled.get("status") == "False"
        and scheduled.get("reason") == "Unschedulable"
    ):
        return [_unschedulable(snap, pod, scheduled)]
    owner = snap.controller_of(pod)
    if owner is not None and kind_of(owner) == "Job" and status.get("phase") == "Failed":
        return []  # the jobs analyzer explains a failed attempt together with the Job
    issues: list[Issue] = []
    mount = _mount_issue(snap, pod)
    if mount is not None:
        issues.append(mount)
    for init in (True, False):
        for index, cs in enumerate(container_statuses(pod, init=init)):
            issue = await _container_issue(ctx, pod, cs, index, init)
            if issue is not None:
                issues.append(issue)
    return issues


# --- containers ------------------------------------------------------------------------------------


async def _container_issue(
    ctx: AnalysisContext, pod: JsonObject, cs: JsonObject, index: int, init: bool
) -> Issue | None:
    name = s(cs.get("name"))
    state = d(cs.get("state"))
    waiting = d(state.get("waiting"))
    terminated = d(state.get("terminated"))
    last = d(d(cs.get("lastState")).get("terminated"))
    reason = s(waiting.get("reason"))
    status_path = f"status.{'initContainerStatuses' if init else 'containerStatuses'}[{index}]"
    restarts = i(cs.get("restartCount"))
    if reason in PULL_REASONS:
        return _pull_issue(ctx.snapshot, pod, cs, status_path)
    if reason == "InvalidImageName":
        image = s(cs.get("image"))
        return Issue(
            cause=Cause.INVALID_IMAGE_NAME,
            severity="high",
            summary=f"container {name}'s image reference {image!r} is invalid: {s(waiting.get('message'))}",
            evidence=[
                ev.field(
                    pod,
                    f"{status_path}.state.waiting",
                    waiting,
                    quote=f"{reason}: {s(waiting.get('message'))}",
                )
            ],
            container=name,
            recommend=[("fix_image_reference", f"Correct the image reference {image!r} of container {name}")],
            confidence=0.95,
        )
    if reason == "CreateContainerConfigError":
        return _config_issue(ctx.snapshot, pod, cs, status_path)
    if reason in RUN_REASONS or (terminated and terminated.get("reason") in RUN_REASONS):
        source = waiting if reason in RUN_REASONS else terminated
        message = s(source.get("message"))
        return Issue(
            cause=Cause.RUN_CONTAINER_ERROR
            if reason != "CreateContainerError"
            else Cause.CREATE_CONTAINER_ERROR,
            severity="high",
            summary=f"container {name} cannot start: {s(source.get('reason'))}: {message}",
            evidence=[
                ev.field(pod, f"{status_path}.state", state, quote=f"{s(source.get('reason'))}: {message}")
            ],
            container=name,
            recommend=[
                (
                    "fix_container_command",
                    f"Check the command, entrypoint and security context of container {name}: {message}",
                )
            ],
            confidence=0.85,
        )
    if reason == "CrashLoopBackOff" or (restarts > 0 and last and not terminated):
        crashing = reason == "CrashLoopBackOff"
        if not crashing and last.get("reason") != "OOMKilled" and restarts < 3:
            return None  # an occasional restart that recovered: nothing to explain
        age = ctx.snapshot.age_seconds(last.get("finishedAt"))
        if not crashing and age is not None and age > RECENT_RESTART_SECONDS:
            return None  # restarts long past, running since: history, not a problem
        return await _crash_issue(ctx, pod, cs, index, init, status_path, crashing)
    if terminated and i(terminated.get("exitCode")) != 0:
        return await _failed_issue(ctx, pod, cs, status_path, init)
    if state.get("running") is not None and cs.get("ready") is not True and not init:
        return await _readiness_issue(ctx, pod, cs, status_path)
    if reason and reason not in STARTING_REASONS:
        message = s(waiting.get("message"))
        return Issue(
            cause=Cause.CONTAINER_WAITING,
            severity="medium",
            summary=f"container {name} is waiting: {reason}{': ' + message if message else ''}",
            evidence=[ev.field(pod, f"{status_path}.state.waiting", waiting, quote=f"{reason}: {message}")],
            container=name,
            confidence=0.6,
        )
    return None


def _pod_events(snap: ClusterSnapshot, pod: JsonObject, reason: str | None = None) -> list[JsonObject]:
    return [e for e in snap.events_for(pod) if reason is None or e.get("reason") == reason]


def _mentions_container(event: JsonObject, container: str) -> bool:
    """Whether a kubelet event is about this container ("Back-off restarting failed container
    NAME in pod", "Container NAME failed liveness probe")."""
    message = s(event.get("message")).lower() + " "
    name = container.lower()
    return f"container {name} " in message or f"container: {name}" in message or f'"{name}"' in message


# --- image pulls -----------------------------------------------------------------------------------

_UNAUTHORIZED = re.compile(
    r"pull access denied|unauthorized|authorization failed|authentication required|no basic auth credentials|"
    r"\b401\b|\b403\b|forbidden|denied",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(r"not found|NotFound|manifest unknown|does not exist|no such image", re.IGNORECASE)
_VERSION = re.compile(r"\bv?\d+(?:\.\d+){1,3}(?:-[0-9A-Za-z.]+)?\b")


def _pull_issue(snap: ClusterSnapshot, pod: JsonObject, cs: JsonObject, status_path: str) -> Issue:
    name = s(cs.get("name"))
    waiting = d(d(cs.get("state")).get("waiting"))
    spec_entry = container_spec(pod_spec_of(pod), name)
    image = s(spec_entry[0].get("image")) if spec_entry else s(cs.get("image"))
    failed = [
        e
        for e in _pod_events(snap, pod, "Failed")
        if s(e.get("message")).startswith("Failed to pull image") and f'"{image}"' in s(e.get("message"))
    ]
    message = s(failed[-1].get("message")) if failed else s(waiting.get("message"))
    evidence = [
        ev.field(pod, f"{status_path}.state.waiting.reason", s(waiting.get("reason"))),
        *(ev.event(e) for e in failed[-1:]),
    ]
    if not failed and waiting.get("message"):
        evidence.append(ev.field(pod, f"{status_path}.state.waiting.message", s(waiting.get("message"))))
    if spec_entry is not None:
        spec_path = f"spec.{'initContainers' if spec_entry[1] else 'containers'}[{spec_entry[2]}].image"
        evidence.append(ev.field(pod, spec_path, image))
    error = _pull_error(message)
    if _UNAUTHORIZED.search(message):
        return _unauthorized(snap, pod, name, image, error, evidence)
    if _NOT_FOUND.search(message):
        repository, tag, _ = split_image(image)
        candidate = _existing_tag(snap, snap.root_owner(pod), image)
        recommend = [
            (
                "fix_image_tag",
                f"Image {image} does not exist in its registry: correct the tag of container {name}",
            )
        ]
        fix: Fix | None = None
        if candidate is not None:
            new_tag, proof = candidate
            evidence.append(proof)
            new_image = f"{repository}:{new_tag}"
            recommend.insert(0, ("set_image", f"Set container {name} to {new_image} ({proof.quote})"))

            def fix(
                root: JsonObject, _n: str = name, _i: str = new_image, _p: Evidence = proof
            ) -> Remediation | None:
                return _set_image(root, _n, _i, _p, evidence)

        return Issue(
            cause=Cause.IMAGE_NOT_FOUND,
            severity="high",
            summary=(
                f"container {name}'s image {image} does not exist (tag {tag or 'latest'} not found): {error}"
            ),
            evidence=evidence,
            container=name,
            recommend=recommend,
            confidence=0.95,
            fix=fix,
        )
    return Issue(
        cause=Cause.IMAGE_PULL_FAILED,
        severity="high",
        summary=f"container {name} cannot pull image {image}: {error}",
        evidence=evidence,
        container=name,
        recommend=[
            ("check_registry", f"Check that the registry of {image} is reachable from the nodes: {error}")
        ],
        confidence=0.7,
    )


_REGISTRY_SAYS = re.compile(
    r"(pull access denied.*|[^\s\"]+: not found.*|manifest unknown.*|unauthorized.*|denied.*|not found.*)$",
    re.IGNORECASE,
)


def _pull_error(message: str) -> str:
    """The registry's own words, without the kubelet's repetitions of the image name."""
    text = message[message.index("desc = ") + len("desc = ") :] if "desc = " in message else message
    said = _REGISTRY_SAYS.search(text)
    return ev.clip(said.group(1) if said else text, 200)


def _same_characters(candidate: str, tag: str) -> bool:
    """A typo rather than another release: the same digits and letters with separators moved
    (2.4.10 / 2.41.0), or one character doubled, dropped or swapped with its neighbour
    (v1.8.20 / v1.8.2). A changed digit (1.2.4 / 1.2.3) is another version."""
    if candidate == tag or not candidate or not tag:
        return False
    a = re.sub(r"[^0-9A-Za-z]", "", candidate.lstrip("v"))
    b = re.sub(r"[^0-9A-Za-z]", "", tag.lstrip("v"))
    if a == b:
        return True
    short, long = sorted((candidate, tag), key=len)
    if len(long) == len(short) + 1:
        return any(long[:k] + long[k + 1 :] == short for k in range(len(long)))
    if len(long) == len(short):
        return any(
            candidate[:k] + candidate[k + 1] + candidate[k] + candidate[k + 2 :] == tag
            for k in range(len(candidate) - 1)
        )
    return False


def _similar_tag(candidate: str, tag: str) -> bool:
    """Whether ``candidate`` looks like what ``tag`` was meant to be: a typo (see above) or a
    small edit (v1.8.20 / v1.8.2)."""
    if candidate == tag:
        return False
    return _same_characters(candidate, tag) or difflib.SequenceMatcher(None, candidate, tag).ratio() >= 0.8


def _existing_tag(snap: ClusterSnapshot, root: JsonObject, image: str) -> tuple[str, Evidence] | None:
    """A tag of the same repository that the cluster shows to exist, if any.

    Best: a container somewhere in the cluster already runs that repository at another tag (its
    imageID proves the pull succeeded). Else: the workload's own version label or change-cause
    names a release whose tag differs from the image's by a typo.
    """
    repository, tag, _ = split_image(image)
    if tag is None:
        return None
    pulled = {
        other_tag: ev.field(pod, path, image_id)
        for other_tag, (pod, path, image_id) in snap.pulled_tags(normalize_repository(repository)).items()
        if other_tag != tag
    }
    similar = [t for t in pulled if _similar_tag(t, tag)]
    if similar:
        best = max(similar, key=lambda t: difflib.SequenceMatcher(None, t, tag).ratio())
        return best, pulled[best]
    # A release named by the workload itself proves less than a pull: accept only a typo of it.
    hints: list[tuple[str, str]] = []
    for obj, prefix in (
        (root, "metadata"),
        (d(d(root.get("spec")).get("template")), "spec.template.metadata"),
    ):
        for key, value in labels_of(obj).items():
            if key in ("app.kubernetes.io/version", "version", "app.version", "helm.sh/chart"):
                hints.append((f"{prefix}.labels.{key}", value))
        for key, value in annotations_of(obj).items():
            if key == "kubernetes.io/change-cause":
                hints.append((f"{prefix}.annotations.{key}", value))
    for path, value in hints:
        for match in _VERSION.finditer(value):
            version = match.group(0)
            if tag.startswith("v") and not version.startswith("v"):
                version = "v" + version
            if _same_characters(version, tag):
                return version, ev.field(root, path, value)
    return None


def _set_image(
    root: JsonObject, container: str, image: str, proof: Evidence, evidence: list[Evidence]
) -> Remediation | None:
    path = container_path(root, container)
    if kind_of(root) not in TEMPLATED or path is None:
        return None
    current = s(d(_get_path(root, path)).get("image"))
    verified = bool(proof.path and proof.path.endswith("imageID"))
    typo = _same_characters(split_image(image)[1] or "", split_image(current)[1] or "")
    return Remediation(
        operation="set_image",
        target=ev.ref(root),
        description=(
            f"Set the image of container {container} to {image} "
            + (
                f"(the cluster already pulled that tag: {proof.quote})"
                if verified
                else f"(the release this workload declares: {proof.quote}; not verified against the registry)"
            )
        ),
        changes=[Change(path=f"{path}.image", current=current, proposed=image)],
        params={"container": container, "image": image},
        # Low only when the tag is proven to exist and differs by a typo, not by a release.
        risk="low" if verified and typo else "medium",
        evidence_ids=[item.id for item in evidence] + [proof.id],
    )


def _get_path(obj: JsonObject, path: str) -> object:
    current: object = obj
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            items = lst(current)
            index = int(part[1:-1])
            current = items[index] if index < len(items) else None
        else:
            current = d(current).get(part)
    return current


def _unauthorized(
    snap: ClusterSnapshot, pod: JsonObject, name: str, image: str, error: str, evidence: list[Evidence]
) -> Issue:
    namespace = namespace_of(pod)
    spec = pod_spec_of(pod)
    pull_secrets = [s(x.get("name")) for x in dicts(spec.get("imagePullSecrets"))]
    evidence.append(
        ev.field(
            pod,
            "spec.imagePullSecrets",
            pull_secrets,
            quote=f"spec.imagePullSecrets: {pull_secrets or 'none'}",
        )
    )
    account = s(spec.get("serviceAccountName")) or "default"
    sa = snap.get("ServiceAccount", namespace, account)
    if sa is not None:
        sa_secrets = [s(x.get("name")) for x in dicts(sa.get("imagePullSecrets"))]
        evidence.append(
            ev.field(
                sa,
                "imagePullSecrets",
                sa_secrets,
                quote=f"ServiceAccount {account} imagePullSecrets: {sa_secrets or 'none'}",
            )
        )
    registry = registry_of(split_image(image)[0])
    # Another workload pulling from the same registry with a pull secret shows which one works.
    candidate: tuple[str, JsonObject] | None = None
    for other in snap.pods_in(namespace):
        other_spec = pod_spec_of(other)
        secrets = [s(x.get("name")) for x in dicts(other_spec.get("imagePullSecrets"))]
        if not secrets or other is pod:
            continue
        pulled = any(
            cs.get("imageID") and registry_of(split_image(s(cs.get("image")))[0]) == registry
            for cs in container_statuses(other)
        )
        if pulled and snap.get("Secret", namespace, secrets[0]) is not None:
            candidate = (secrets[0], other)
            break
    recommend = [
        (
            "add_image_pull_secret",
            f"Give the pods credentials for {registry} (imagePullSecrets or the ServiceAccount's)",
        )
    ]
    fix: Fix | None = None
    if candidate is not None:
        secret, other = candidate
        proof = ev.relation(
            other,
            "pulls-with",
            ResourceRef(kind="Secret", namespace=namespace, name=secret),
            f"{ev.ref(snap.root_owner(other))} pulls from {registry} with imagePullSecrets [{secret}]",
        )
        evidence.append(proof)
        recommend.insert(
            0,
            (
                "add_image_pull_secret",
                (
                    f"Add imagePullSecrets [{secret}], which {ev.ref(snap.root_owner(other))} uses for"
                    f" {registry}"
                ),
            ),
        )

        def fix(root: JsonObject, _secret: str = secret) -> Remediation | None:
            if kind_of(root) not in TEMPLATED:
                return None
            base = (
                "spec.jobTemplate.spec.template.spec" if kind_of(root) == "CronJob" else "spec.template.spec"
            )
            current = [s(x.get("name")) for x in dicts(pod_spec_of(root).get("imagePullSecrets"))]
            operation = (
                {
                    "op": "add",
                    "path": json_pointer(f"{base}.imagePullSecrets") + "/-",
                    "value": {"name": _secret},
                }
                if current
                else {
                    "op": "add",
                    "path": json_pointer(f"{base}.imagePullSecrets"),
                    "value": [{"name": _secret}],
                }
            )
            return json_patch(
                root,
                f"Add imagePullSecret {_secret} to {ev.ref(root)}",
                [operation],
                [Change(path=f"{base}.imagePullSecrets", current=current, proposed=[*current, _secret])],
                evidence,
                risk="low",
            )

    return Issue(
        cause=Cause.IMAGE_PULL_UNAUTHORIZED,
        severity="high",
        summary=(
            f"pulling {image} from {registry} is denied ({error}); the pod has "
            f"{'imagePullSecrets ' + str(pull_secrets) if pull_secrets else 'no imagePullSecrets'}"
        ),
        evidence=evidence,
        container=name,
        recommend=recommend,
        confidence=0.9,
        fix=fix,
    )


# --- configuration ---------------------------------------------------------------------------------

_KEY_IN = re.compile(
    r"couldn't find key (?P<key>\S+) in (?P<kind>Secret|ConfigMap) (?P<ns>[^/\s]+)/(?P<name>\S+)"
)
_NOT_FOUND_OBJ = re.compile(r'(?P<kind>secret|configmap)s? "(?P<name>[^"]+)" not found', re.IGNORECASE)


def _keys(obj: JsonObject) -> list[str]:
    return sorted({*d(obj.get("data")), *d(obj.get("binaryData")), *d(obj.get("stringData"))})


def _normalized(key: str) -> str:
    return re.sub(r"[-_.]", "", key).lower()


def _config_issue(snap: ClusterSnapshot, pod: JsonObject, cs: JsonObject, status_path: str) -> Issue:
    name = s(cs.get("name"))
    waiting = d(d(cs.get("state")).get("waiting"))
    message = s(waiting.get("message"))
    events = [e for e in _pod_events(snap, pod, "Failed") if s(e.get("message")).startswith("Error:")]
    event_messages = [s(e.get("message")) for e in events]
    text = message or (event_messages[-1] if event_messages else "")
    evidence = [
        ev.field(pod, f"{status_path}.state.waiting", waiting, quote=f"CreateContainerConfigError: {message}")
    ]
    evidence.extend(ev.event(e) for e in events[-1:])
    spec_entry = container_spec(pod_spec_of(pod), name)
    container = spec_entry[0] if spec_entry else {}
    field_name = "initContainers" if spec_entry and spec_entry[1] else "containers"
    base = f"spec.{field_name}[{spec_entry[2] if spec_entry else 0}]"
    match = _KEY_IN.search(text)
    if match:
        kind, key, source = match["kind"], match["key"], match["name"]
        namespace = match["ns"]
        return _missing_key(snap, pod, name, container, base, kind, namespace, source, key, evidence)
    missing = _NOT_FOUND_OBJ.search(text)
    if missing:
        kind = "Secret" if missing["kind"].lower() == "secret" else "ConfigMap"
        return _missing_object(
            snap, pod, name, kind, missing["name"], evidence, f"container {name} cannot be created"
        )
    return Issue(
        cause=Cause.CREATE_CONTAINER_ERROR,
        severity="high",
        summary=f"container {name} cannot be created: {text}",
        evidence=evidence,
        container=name,
        confidence=0.7,
    )


def _missing_key(
    snap: ClusterSnapshot,
    pod: JsonObject,
    name: str,
    container: JsonObject,
    base: str,
    kind: str,
    namespace: str,
    source: str,
    key: str,
    evidence: list[Evidence],
) -> Issue:
    ref_field = "secretKeyRef" if kind == "Secret" else "configMapKeyRef"
    variable, env_path = "", ""
    for index, entry in enumerate(dicts(container.get("env"))):
        key_ref = d(d(entry.get("valueFrom")).get(ref_field))
        if key_ref.get("name") == source and key_ref.get("key") == key:
            variable, env_path = s(entry.get("name")), f"{base}.env[{index}].valueFrom.{ref_field}"
            evidence.append(
                ev.field(
                    pod,
                    env_path,
                    key_ref,
                    quote=f"env {variable}: {ref_field} {{name: {source}, key: {key}}}",
                )
            )
            break
    obj = snap.get(kind, namespace, source)
    cause = Cause.MISSING_SECRET_KEY if kind == "Secret" else Cause.MISSING_CONFIGMAP_KEY
    if obj is None:
        if snap.knows(kind, namespace):
            return _missing_object(
                snap, pod, name, kind, source, evidence, f"container {name} cannot be created"
            )
        keys: list[str] = []
    else:
        keys = _keys(obj)
        evidence.append(
            ev.field(
                obj, "data", keys, quote=f"{kind} {namespace}/{source} has keys: {', '.join(keys) or 'none'}"
            )
        )
    reads = f"env {variable} reads" if variable else "reads"
    summary = (
        f"container {name} cannot be created: {reads} key {key} of {kind} {source}, which has no such key"
        + (f" (it has: {', '.join(keys)})" if keys else "")
    )
    recommend = [
        (
            f"fix_{kind.lower()}_key",
            f"Add key {key} to {kind} {namespace}/{source}, or reference one of its keys",
        )
    ]
    fix: Fix | None = None
    same = [k for k in keys if _normalized(k) == _normalized(key)]
    close = same or difflib.get_close_matches(key, keys, n=1, cutoff=0.75)
    if close:
        recommend.insert(
            0,
            (
                f"fix_{kind.lower()}_key_reference",
                f"{kind} {source} has key {close[0]}: did the reference mean {close[0]}?",
            ),
        )
    if same and env_path and variable:
        # Only a separator or case apart: the reference is a typo of the existing key.
        proposed = same[0]

        def fix(root: JsonObject, _path: str = env_path, _key: str = proposed) -> Remediation | None:
            path = container_path(root, name)
            if kind_of(root) not in TEMPLATED or path is None:
                return None
            full = path + _path.removeprefix(base) + ".key"
            return json_patch(
                root,
                f"Point env {variable} of container {name} at key {_key} of {kind} {source}",
                [{"op": "replace", "path": json_pointer(full), "value": _key}],
                [Change(path=full, current=key, proposed=_key)],
                evidence,
            )

    return Issue(
        cause=cause,
        severity="high",
        summary=summary,
        evidence=evidence,
        container=name,
        recommend=recommend,
        confidence=0.95 if obj is not None else 0.8,
        fix=fix,
        related=[ResourceRef(kind=kind, namespace=namespace, name=source)],
    )


def _missing_object(
    snap: ClusterSnapshot,
    pod: JsonObject,
    container: str,
    kind: str,
    name: str,
    evidence: list[Evidence],
    effect: str,
) -> Issue:
    namespace = namespace_of(pod)
    ref = ResourceRef(kind=kind, namespace=namespace, name=name)
    exists = snap.get(kind, namespace, name) is not None
    names = [
        name_of(x)
        for x in (snap.secrets if kind == "Secret" else snap.configmaps)
        if namespace_of(x) == namespace
    ]
    similar = difflib.get_close_matches(name, names, n=2, cutoff=0.7)
    if not exists and snap.knows(kind, namespace):
        evidence.append(ev.existence(ref, False, f"{kind} {namespace}/{name}: not found"))
    hint = f" (similar: {', '.join(similar)})" if similar else ""
    recommend = [(f"create_{kind.lower()}", f"Create {kind} {namespace}/{name}, or fix the reference to it")]
    if similar:
        recommend.append(
            (
                f"fix_{kind.lower()}_reference",
                f"{kind} {similar[0]} exists: check whether the reference to {name} is a typo of it",
            )
        )
    return Issue(
        cause=Cause.MISSING_CONFIGMAP if kind == "ConfigMap" else Cause.MISSING_SECRET,
        severity="high",
        summary=f"{effect}: {kind} {name} does not exist in {namespace}{hint}",
        evidence=evidence,
        container=container,
        recommend=recommend,
        confidence=0.95 if not exists else 0.6,
        related=[ref],
    )


def _mount_issue(snap: ClusterSnapshot, pod: JsonObject) -> Issue | None:
    """Volumes that cannot be mounted keep every container in ContainerCreating."""
    statuses = container_statuses(pod) + container_statuses(pod, init=True)
    starting = any(
        s(d(d(cs.get("state")).get("waiting")).get("reason")) in STARTING_REASONS
        and d(cs.get("state")).get("waiting") is not None
        for cs in statuses
    )
    if statuses and not starting:
        return None
    events = [
        e
        for e in snap.events_for(pod, warnings_only=True)
        if e.get("reason") in ("FailedMount", "FailedAttachVolume", "FailedCreatePodSandBox")
    ]
    namespace = namespace_of(pod)
    spec = d(pod.get("spec"))
    for index, volume in enumerate(dicts(spec.get("volumes"))):
        for kind, key, name_key in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "secretName")):
            source = d(volume.get(key))
            if not source or source.get("optional") is True:
                continue
            name = s(source.get(name_key))
            if snap.get(kind, namespace, name) is not None or not snap.knows(kind, namespace):
                continue
            mentioning = [e for e in events if f'"{name}" not found' in s(e.get("message"))]
            evidence = [
                *(ev.event(e) for e in mentioning[-1:]),
                ev.field(pod, f"spec.volumes[{index}].{key}.{name_key}", name),
            ]
            return _missing_object(
                snap,
                pod,
                "",
                kind,
                name,
                evidence,
                (
                    f"volume {s(volume.get('name'))} cannot be mounted and the containers stay in"
                    " ContainerCreating"
                ),
            )
    if events:
        latest = events[-1]
        sandbox = latest.get("reason") == "FailedCreatePodSandBox"
        return Issue(
            cause=Cause.SANDBOX_FAILED if sandbox else Cause.MOUNT_FAILED,
            severity="high",
            summary=(
                f"the pod cannot start: {s(latest.get('reason'))}: {ev.clip(s(latest.get('message')), 200)}"
            ),
            evidence=[ev.event(latest)],
            confidence=0.7,
        )
    return None


# --- crashes ------------------------------------------------------------------------------------------


async def _container_logs(
    ctx: AnalysisContext, pod: JsonObject, container: str, crashed: bool
) -> list[LogLines]:
    """The crashed instance's log first (what it said before dying), then the current one."""
    found = []
    for previous in (True, False) if crashed else (False,):
        logs = await ctx.logs(pod, container, previous=previous)
        if logs is not None and logs.lines:
            found.append(logs)
    return found


async def _crash_issue(
    ctx: AnalysisContext,
    pod: JsonObject,
    cs: JsonObject,
    index: int,
    init: bool,
    status_path: str,
    crashing: bool,
) -> Issue:
    snap = ctx.snapshot
    name = s(cs.get("name"))
    last = d(d(cs.get("lastState")).get("terminated"))
    code = i(last.get("exitCode"))
    reason = s(last.get("reason")) or "Error"
    restarts = i(cs.get("restartCount"))
    severity: Severity = "high" if crashing else "medium"
    spec_entry = container_spec(pod_spec_of(pod), name)
    container = spec_entry[0] if spec_entry else {}
    spec_path = f"spec.{'initContainers' if init else 'containers'}[{spec_entry[2] if spec_entry else index}]"
    state_quote = "CrashLoopBackOff" if crashing else "running again"
    evidence = [
        ev.field(
            pod,
            f"{status_path}.lastState.terminated",
            {k: last.get(k) for k in ("reason", "exitCode", "startedAt", "finishedAt") if k in last},
            quote=(
                f"container {name} lastState.terminated: reason={reason} exitCode={code};"
                f" restartCount={restarts}; {state_quote}"
            ),
        )
    ]
    backoff = [e for e in _pod_events(snap, pod, "BackOff") if _mentions_container(e, name)]
    kind_word = "init container" if init else "container"

    if reason == "OOMKilled":
        evidence.extend(ev.event(e) for e in backoff[-1:])
        _requests, limits = resources_of(container)
        limit = quantity(limits.get("memory"))
        if limit is not None:
            evidence.append(ev.field(pod, f"{spec_path}.resources.limits.memory", limits.get("memory")))
        usage = snap.pod_usage(pod)
        memory = (usage or {}).get(name, (None, None))[1]
        if memory is not None:
            evidence.append(
                ev.metric(
                    pod,
                    f"{name}.memory",
                    format_memory(memory),
                    f"metrics.k8s.io: container {name} uses {format_memory(memory)} of memory now",
                )
            )
        at = (
            f" at its {limits.get('memory')} memory limit"
            if limit is not None
            else " (no memory limit: the node ran out of memory)"
        )
        recommend = [
            (
                "increase_memory_limit",
                f"Raise the memory limit of {kind_word} {name} above {limits.get('memory')}"
                if limit
                else f"Set a memory request and limit for {kind_word} {name}",
            ),
            (
                "investigate_memory_growth",
                f"Find out why {name}'s memory grows (a leak, an unbounded cache or batch)",
            ),
        ]
        proposed = format_memory(limit * 2) if limit is not None else None
        if proposed:
            recommend[0] = (
                "increase_memory_limit",
                f"Increase the memory limit of {kind_word} {name} from {limits.get('memory')} to {proposed}",
            )

        def oom_fix(root: JsonObject) -> Remediation | None:
            return _memory_fix(root, name, init, limit, evidence)

        return Issue(
            cause=Cause.OOM_KILLED,
            severity=severity,
            category="reliability",
            summary=f"{kind_word} {name} was OOMKilled (exit code {code}){at}; {restarts} restarts",
            evidence=evidence,
            container=name,
            recommend=recommend,
            confidence=0.95,
            fix=oom_fix if limit is not None else None,
        )

    probe_issue = _probe_kill(snap, pod, name, container, spec_path, evidence, severity)
    if probe_issue is not None:
        await _add_probe_log(ctx, pod, name, container, probe_issue)
        return probe_issue

    logs = await _container_logs(ctx, pod, name, crashed=True)
    for lines in logs:
        env = logpatterns.missing_env(lines.lines)
        if env is not None:
            return _missing_env(
                snap, pod, name, container, spec_path, init, code, env, lines, evidence, severity
            )
    for lines in logs:
        deps = _dependencies(snap, pod, lines)
        if deps:
            services, match = deps
            evidence.append(ev.log(pod, lines, match.index))
            evidence.extend(ev.event(e) for e in backoff[-1:])
            hosts = match.detail["hosts"].split()[0]
            return Issue(
                cause=Cause.INIT_CONTAINER_FAILING if init else Cause.CRASH_LOOP,
                severity=severity,
                role="symptom",
                summary=(
                    f"{kind_word} {name} exits {code} because it cannot reach {hosts}"
                    f" ({match.detail['error']})"
                ),
                evidence=evidence,
                container=name,
                depends_on=[ev.ref(svc) for svc in services],
                recommend=[
                    (
                        "fix_dependency",
                        f"Make {', '.join(name_of(x) for x in services)} reachable: see its own findings",
                    )
                ],
                confidence=0.8,
            )
    informative = None
    for lines in logs:
        best = logpatterns.most_informative_error(lines.lines)
        if best is not None:
            informative = (lines, best)
            break
    evidence.extend(ev.event(e) for e in backoff[-1:])
    said = ""
    if informative is not None:
        evidence.append(ev.log(pod, informative[0], informative[1].index))
        said = f": {ev.clip(informative[1].line.strip(), 160)}"
    meaning = logpatterns.describe_exit(code)
    if init:
        return Issue(
            cause=Cause.INIT_CONTAINER_FAILING,
            severity="high",
            summary=(
                f"init container {name} fails with {meaning}{said}; the app containers never start"
                f" ({restarts} restarts)"
            ),
            evidence=evidence,
            container=name,
            recommend=[("fix_init_container", f"Fix what init container {name} reports{said}")],
            confidence=0.9,
        )
    why = f"container {name} crash-loops with {meaning}"

    def crash_fix(root: JsonObject) -> Remediation | None:
        return rollback_or_restart(snap, root, why, evidence)

    return Issue(
        cause=Cause.CRASH_LOOP,
        severity=severity,
        summary=f"{why}{said} ({restarts} restarts)",
        evidence=evidence,
        container=name,
        recommend=[
            ("inspect_logs", f"Read the previous logs of {name}: kubectl logs --previous -c {name}"),
            ("rollback_or_restart", "Roll back to the last working revision if this started with a rollout"),
        ],
        confidence=0.5,
        fix=crash_fix,
    )


def _memory_fix(
    root: JsonObject, container: str, init: bool, limit: Decimal | None, evidence: list[Evidence]
) -> Remediation | None:
    """Double the memory limit (rounded up to a whole Mi): enough headroom to stop the kills
    while the growth is investigated, without guessing a size the evidence does not show."""
    path = container_path(root, container, init=init)
    if limit is None or kind_of(root) not in TEMPLATED or path is None:
        return None
    spec = d(_get_path(root, path))
    limits = resources_of(spec)[1]
    current = s(limits.get("memory")) or format_memory(limit)
    proposed = format_memory((quantity(current) or limit) * 2)
    return Remediation(
        operation="set_resources",
        target=ev.ref(root),
        description=f"Increase the memory limit of container {container} from {current} to {proposed}",
        changes=[Change(path=f"{path}.resources.limits.memory", current=current, proposed=proposed)],
        params={"container": container, "resources": {"limits": {"memory": proposed}}},
        risk="low",
        evidence_ids=[item.id for item in evidence],
    )


def _missing_env(
    snap: ClusterSnapshot,
    pod: JsonObject,
    name: str,
    container: JsonObject,
    spec_path: str,
    init: bool,
    code: int,
    match: logpatterns.LogMatch,
    lines: LogLines,
    evidence: list[Evidence],
    severity: Severity,
) -> Issue:
    variable = match.detail["variable"]
    namespace = namespace_of(pod)
    evidence.append(ev.log(pod, lines, match.index))
    env_names = [s(e.get("name")) for e in dicts(container.get("env"))]
    sources = []
    for source in dicts(container.get("envFrom")):
        for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref_name = s(d(source.get(key)).get("name"))
            if ref_name:
                sources.append(f"{kind} {ref_name}")
    evidence.append(
        ev.field(
            pod,
            f"{spec_path}.env",
            env_names,
            quote=(
                f"container {name} env: {', '.join(env_names) or 'none'}; envFrom:"
                f" {', '.join(sources) or 'none'}"
            ),
        )
    )
    # Where the value lives, if anywhere in the namespace: the fix is to reference it.
    holder: JsonObject | None = None
    for obj in [*snap.secrets, *snap.configmaps]:
        if namespace_of(obj) == namespace and variable in _keys(obj):
            holder = obj
            break
    recommend = [("set_env_var", f"Define environment variable {variable} for container {name}")]
    fix: Fix | None = None
    where = ""
    if holder is not None:
        kind = kind_of(holder)
        holder_name = name_of(holder)
        where = f"; {kind} {holder_name} has key {variable} but the container does not reference it"
        proof = ev.field(
            holder,
            "data",
            _keys(holder),
            quote=f"{kind} {namespace}/{holder_name} has keys: {', '.join(_keys(holder))}",
        )
        evidence.append(proof)
        ref_key = "secretKeyRef" if kind == "Secret" else "configMapKeyRef"
        entry = {"name": variable, "valueFrom": {ref_key: {"name": holder_name, "key": variable}}}
        recommend.insert(
            0,
            (
                "add_env_from_" + kind.lower(),
                f"Add env {variable} from {kind} {holder_name} (key {variable}) to container {name}",
            ),
        )

        def fix(root: JsonObject) -> Remediation | None:
            path = container_path(root, name, init=init)
            if kind_of(root) not in TEMPLATED or path is None:
                return None
            current = [s(e.get("name")) for e in dicts(d(_get_path(root, path)).get("env"))]
            operation = (
                {"op": "add", "path": json_pointer(f"{path}.env") + "/-", "value": entry}
                if current
                else {"op": "add", "path": json_pointer(f"{path}.env"), "value": [entry]}
            )
            return json_patch(
                root,
                f"Add env {variable} (from {kind} {holder_name}, key {variable}) to container {name}",
                [operation],
                [Change(path=f"{path}.env", current=current, proposed=[*current, variable])],
                evidence,
                risk="low",
            )

    elif kind_of(snap.root_owner(pod)) == "Deployment" and (
        previous := previous_revision(snap, snap.root_owner(pod))
    ):
        # The previous revision defined the variable: this release dropped it.
        previous_spec = next((c for c in containers(pod_spec_of(previous)) if c.get("name") == name), {})
        if variable in [s(e.get("name")) for e in dicts(previous_spec.get("env"))]:
            why = (
                f"revision {annotations_of(previous).get('deployment.kubernetes.io/revision')} defines"
                f" {variable}"
            )

            def fix(root: JsonObject) -> Remediation | None:
                return rollback_or_restart(snap, root, why, evidence)

    return Issue(
        cause=Cause.MISSING_ENV_VAR,
        severity=severity,
        summary=(
            f"{'init ' if init else ''}container {name} exits {code} at start: required environment variable"
            f" {variable} is not set{where}"
        ),
        evidence=evidence,
        container=name,
        recommend=recommend,
        confidence=0.95,
        fix=fix,
        related=[ev.ref(holder)] if holder is not None else [],
    )


def _dependencies(
    snap: ClusterSnapshot, pod: JsonObject, lines: LogLines
) -> tuple[list[JsonObject], logpatterns.LogMatch] | None:
    """The Services a log says it cannot reach (by DNS name or cluster IP), with the last line saying so."""
    namespace = namespace_of(pod)
    for match in reversed(logpatterns.unreachable(lines.lines)):
        services = []
        for target in match.detail["hosts"].split():
            host = target.rsplit(":", 1)[0]
            service = snap.service_by_host(host, namespace)
            if service is not None and service not in services:
                services.append(service)
        if services:
            return services, match
    return None


# --- probes ---------------------------------------------------------------------------------------

_STATUS_CODE = re.compile(r"statuscode: (\d+)")


def _probe_kill(
    snap: ClusterSnapshot,
    pod: JsonObject,
    name: str,
    container: JsonObject,
    spec_path: str,
    evidence: list[Evidence],
    severity: Severity,
) -> Issue | None:
    """A container the kubelet kills for failing its liveness (or startup) probe."""
    events = snap.events_for(pod)
    killing = [
        e
        for e in events
        if e.get("reason") == "Killing" and _mentions_container(e, name) and "probe" in s(e.get("message"))
    ]
    unhealthy = [
        e
        for e in events
        if e.get("reason") == "Unhealthy"
        and re.match(r"(Liveness|Startup) probe failed", s(e.get("message")))
    ]
    if not killing and not unhealthy:
        return None
    startup = bool(unhealthy) and s(unhealthy[-1].get("message")).startswith("Startup")
    probe_key = "startupProbe" if startup else "livenessProbe"
    probe = d(container.get(probe_key))
    port = probe_port(probe)
    exposed = port_exposed(pod_spec_of(pod), port) if port is not None else None
    evidence.extend(ev.event(e) for e in unhealthy[-1:])
    evidence.extend(ev.event(e) for e in killing[-1:])
    if probe:
        evidence.append(
            ev.field(pod, f"{spec_path}.{probe_key}", probe, quote=f"{probe_key}: {_describe_probe(probe)}")
        )
    declared = [
        f"{p.get('containerPort')}{'/' + s(p.get('name')) if p.get('name') else ''}"
        for p in dicts(container.get("ports"))
    ]
    if declared:
        evidence.append(
            ev.field(
                pod,
                f"{spec_path}.ports",
                lst(container.get("ports")),
                quote=f"container {name} ports: {', '.join(declared)}",
            )
        )
    message = s(unhealthy[-1].get("message")) if unhealthy else s(killing[-1].get("message"))
    kind = "startup" if startup else "liveness"
    if exposed is False:
        candidate = _probe_port_candidate(container, probe, probe_key)
        fix: Fix | None = None
        recommend = [
            (
                "fix_probe_port",
                (
                    f"Point the {kind} probe of {name} at a port the container listens on"
                    f" ({', '.join(declared)})"
                ),
            )
        ]
        if candidate is not None:
            recommend[0] = (
                "fix_probe_port",
                f"Change the {kind} probe port of container {name} from {port} to {candidate}",
            )

            def fix(root: JsonObject, _new: int | str = candidate) -> Remediation | None:
                path = container_path(root, name)
                if kind_of(root) not in TEMPLATED or path is None:
                    return None
                handler = next(h for h in ("httpGet", "tcpSocket", "grpc") if isinstance(probe.get(h), dict))
                full = f"{path}.{probe_key}.{handler}.port"
                return json_patch(
                    root,
                    f"Change the {kind} probe port of container {name} from {port} to {_new}",
                    [{"op": "replace", "path": json_pointer(full), "value": _new}],
                    [Change(path=full, current=port, proposed=_new)],
                    evidence,
                )

        return Issue(
            cause=Cause.LIVENESS_PROBE_MISCONFIGURED,
            severity=severity,
            category="reliability",
            summary=(
                f"container {name}'s {kind} probe checks port {port}, which the container does not expose "
                f"(it declares {', '.join(declared)}); the kubelet kills it: {ev.clip(message, 140)}"
            ),
            evidence=evidence,
            container=name,
            recommend=recommend,
            confidence=0.95,
            fix=fix,
        )
    return Issue(
        cause=Cause.STARTUP_PROBE_FAILING if startup else Cause.LIVENESS_PROBE_FAILING,
        severity=severity,
        category="reliability",
        summary=(
            f"the kubelet restarts container {name} because its {kind} probe fails: {ev.clip(message, 160)}"
        ),
        evidence=evidence,
        container=name,
        recommend=[
            (
                "check_probe",
                (
                    f"Check that {_describe_probe(probe)} answers within the probe's timeout, or relax its"
                    " thresholds"
                ),
            )
        ],
        confidence=0.7,
    )


def _probe_port_candidate(container: JsonObject, probe: JsonObject, probe_key: str) -> int | str | None:
    """The port the probe was meant to use: another probe of the container with the same
    handler and path on a declared port, else the only declared port."""
    declared = [p for p in dicts(container.get("ports"))]
    names = {s(p.get("name")) for p in declared} - {""}
    numbers = {i(p.get("containerPort")) for p in declared}
    path = s(d(probe.get("httpGet")).get("path"))
    for other_key in ("readinessProbe", "startupProbe", "livenessProbe"):
        if other_key == probe_key:
            continue
        other = d(container.get(other_key))
        port = probe_port(other)
        if port is None or s(d(other.get("httpGet")).get("path")) != path:
            continue
        if (isinstance(port, str) and port in names) or (isinstance(port, int) and port in numbers):
            return port
    if len(declared) == 1:
        return i(declared[0].get("containerPort")) or None
    return None


def _describe_probe(probe: JsonObject) -> str:
    http = d(probe.get("httpGet"))
    if http:
        return f"GET {s(http.get('path')) or '/'} on port {http.get('port')}"
    tcp = d(probe.get("tcpSocket"))
    if tcp:
        return f"TCP connect to port {tcp.get('port')}"
    grpc = d(probe.get("grpc"))
    if grpc:
        return f"gRPC health check on port {grpc.get('port')}"
    command = lst(d(probe.get("exec")).get("command"))
    return f"exec {' '.join(str(c) for c in command)}" if command else "probe"


async def _add_probe_log(
    ctx: AnalysisContext, pod: JsonObject, name: str, container: JsonObject, issue: Issue
) -> None:
    """The app answering its health path normally while the probe fails supports a
    misconfigured probe: add the log line showing it."""
    probe = d(container.get("livenessProbe"))
    path = s(d(probe.get("httpGet")).get("path"))
    if not path:
        return
    for lines in await _container_logs(ctx, pod, name, crashed=True):
        for index in range(len(lines.lines) - 1, -1, -1):
            if path in lines.lines[index]:
                issue.evidence.append(ev.log(pod, lines, index))
                return


async def _readiness_issue(
    ctx: AnalysisContext, pod: JsonObject, cs: JsonObject, status_path: str
) -> Issue | None:
    snap = ctx.snapshot
    name = s(cs.get("name"))
    unhealthy = [
        e
        for e in _pod_events(snap, pod, "Unhealthy")
        if s(e.get("message")).startswith("Readiness probe failed")
    ]
    if not unhealthy:
        return None
    latest = unhealthy[-1]
    message = s(latest.get("message"))
    spec_entry = container_spec(pod_spec_of(pod), name)
    container = spec_entry[0] if spec_entry else {}
    spec_path = f"spec.containers[{spec_entry[2] if spec_entry else 0}]"
    probe = d(container.get("readinessProbe"))
    port = probe_port(probe)
    exposed = port_exposed(pod_spec_of(pod), port) if port is not None else None
    evidence = [
        ev.field(
            pod, f"{status_path}.ready", cs.get("ready"), quote=f"container {name} ready: false (running)"
        ),
        ev.event(latest),
    ]
    if probe:
        evidence.append(
            ev.field(
                pod, f"{spec_path}.readinessProbe", probe, quote=f"readinessProbe: {_describe_probe(probe)}"
            )
        )
    code_match = _STATUS_CODE.search(message)
    code = int(code_match.group(1)) if code_match else None
    described = _describe_probe(probe) if probe else "the readiness probe"
    base = dict(cause=Cause.READINESS_PROBE_FAILING, severity="high", category="reliability", container=name)
    if exposed is False:
        return Issue(
            **base,  # type: ignore[arg-type]
            summary=(
                f"container {name}'s readiness probe ({described}) targets a port the container does not"
                " expose; it never becomes Ready"
            ),
            evidence=evidence,
            recommend=[("fix_probe_port", f"Point the readiness probe of {name} at a port it declares")],
            confidence=0.9,
        )
    logs = await _container_logs(ctx, pod, name, crashed=False)
    if code is not None and 400 <= code < 500:
        path = s(d(probe.get("httpGet")).get("path"))
        for lines in logs:
            for index in range(len(lines.lines) - 1, -1, -1):
                if path and path in lines.lines[index]:
                    evidence.append(ev.log(pod, lines, index))
                    break
            else:
                continue
            break
        return Issue(
            **base,  # type: ignore[arg-type]
            summary=(
                f"container {name}'s readiness probe {described} answers {code}: the path is not served, so"
                " the pod never becomes Ready"
            ),
            evidence=evidence,
            recommend=[
                (
                    "fix_readiness_probe_path",
                    (
                        f"Change the readiness probe path {path} of container {name} to the health endpoint"
                        " the app serves"
                    ),
                )
            ],
            confidence=0.9,
        )
    for lines in logs:
        deps = _dependencies(snap, pod, lines)
        if deps:
            services, match = deps
            evidence.append(ev.log(pod, lines, match.index))
            return Issue(
                **base,  # type: ignore[arg-type]
                role="symptom",
                summary=(
                    f"container {name} is not Ready ({ev.clip(message, 80)}) while it cannot reach "
                    f"{match.detail['hosts'].split()[0]} ({match.detail['error']})"
                ),
                evidence=evidence,
                depends_on=[ev.ref(svc) for svc in services],
                recommend=[
                    (
                        "fix_dependency",
                        f"Make {', '.join(name_of(x) for x in services)} reachable from {name}",
                    )
                ],
                confidence=0.8,
            )
    return Issue(
        **base,  # type: ignore[arg-type]
        summary=f"container {name} fails its readiness probe ({described}): {ev.clip(message, 160)}",
        evidence=evidence,
        recommend=[("check_readiness", f"Check why {name} reports itself unready: {ev.clip(message, 120)}")],
        confidence=0.6,
    )


async def _failed_issue(
    ctx: AnalysisContext, pod: JsonObject, cs: JsonObject, status_path: str, init: bool
) -> Issue:
    name = s(cs.get("name"))
    terminated = d(d(cs.get("state")).get("terminated"))
    code = i(terminated.get("exitCode"))
    evidence = [
        ev.field(
            pod,
            f"{status_path}.state.terminated",
            {k: terminated.get(k) for k in ("reason", "exitCode")},
            quote=f"container {name} terminated: reason={s(terminated.get('reason'))} exitCode={code}",
        )
    ]
    said = ""
    for lines in await _container_logs(ctx, pod, name, crashed=False):
        match = logpatterns.most_informative_error(lines.lines)
        if match is not None:
            evidence.append(ev.log(pod, lines, match.index))
            said = f": {ev.clip(match.line.strip(), 160)}"
            break
    return Issue(
        cause=Cause.INIT_CONTAINER_FAILING if init else Cause.CONTAINER_FAILED,
        severity="medium",
        summary=(
            f"{'init ' if init else ''}container {name} failed with {logpatterns.describe_exit(code)}{said}"
        ),
        evidence=evidence,
        container=name,
        confidence=0.6,
    )


# --- scheduling, eviction, termination ----------------------------------------------------------------

_INSUFFICIENT = re.compile(r"(\d+) Insufficient ([A-Za-z0-9][\w./-]*[A-Za-z0-9])")
_TAINT = re.compile(r"(\d+) node\(s\) had untolerated taint \{([^}]*)\}")


def _unschedulable(snap: ClusterSnapshot, pod: JsonObject, scheduled: JsonObject) -> Issue:
    namespace = namespace_of(pod)
    spec = d(pod.get("spec"))
    message = s(scheduled.get("message"))
    events = [e for e in _pod_events(snap, pod, "FailedScheduling")]
    if events:
        message = s(events[-1].get("message")) or message
    evidence = [
        ev.field(
            pod,
            "status.conditions[PodScheduled]",
            {k: scheduled.get(k) for k in ("status", "reason", "message")},
            quote=f"PodScheduled=False ({s(scheduled.get('reason'))}): {s(scheduled.get('message'))}",
        )
    ]
    evidence.extend(ev.event(e) for e in events[-1:])
    # Claims first: a pod waiting for its volume is not short of anything else.
    unbound = []
    for volume in dicts(spec.get("volumes")):
        claim = s(d(volume.get("persistentVolumeClaim")).get("claimName"))
        if claim:
            pvc = snap.get("PersistentVolumeClaim", namespace, claim)
            if pvc is None or d(pvc.get("status")).get("phase") != "Bound":
                unbound.append(
                    pvc or ResourceRef(kind="PersistentVolumeClaim", namespace=namespace, name=claim)
                )
    if unbound or "PersistentVolumeClaim" in message:
        refs = [x if isinstance(x, ResourceRef) else ev.ref(x) for x in unbound]
        names = ", ".join(r.name for r in refs) or "its claims"
        return Issue(
            cause=Cause.UNSCHEDULABLE,
            severity="high",
            role="symptom",
            summary=f"the pod cannot be scheduled: its PersistentVolumeClaim {names} is not bound",
            evidence=evidence,
            depends_on=refs,
            recommend=[
                (
                    "fix_persistent_volume_claim",
                    f"Make PersistentVolumeClaim {names} bind: see its own findings",
                )
            ],
            confidence=0.85,
        )
    matching = [node for node in snap.nodes if node_selected(spec, node)]
    taint_reason = _TAINT.search(message)
    if taint_reason or (matching and all(blocking_taints(spec, node) for node in matching)):
        tainted = [(node, blocking_taints(spec, node)) for node in matching]
        tainted = [(node, taints) for node, taints in tainted if taints]
        if matching and len(tainted) == len(matching):
            taints = {describe_taint(t): t for _, ts in tainted for t in ts}
            for node, node_taints in tainted[:3]:
                evidence.append(
                    ev.field(
                        node,
                        "spec.taints",
                        node_taints,
                        quote=(
                            f"Node {name_of(node)} taints:"
                            f" {', '.join(describe_taint(t) for t in node_taints)}"
                        ),
                    )
                )
            selector = d(spec.get("nodeSelector"))
            if selector:
                evidence.append(ev.field(pod, "spec.nodeSelector", selector))
            evidence.append(
                ev.field(
                    pod,
                    "spec.tolerations",
                    lst(spec.get("tolerations")),
                    quote=f"tolerations: {lst(spec.get('tolerations')) or 'none'}",
                )
            )
            where = (
                f"'s nodeSelector {', '.join(f'{k}={v}' for k, v in selector.items())} matches only"
                if selector
                else " could run only on"
            )
            node_names = ", ".join(name_of(n) for n, _ in tainted)
            wanted = list(taints.values())

            def fix(root: JsonObject) -> Remediation | None:
                if kind_of(root) not in TEMPLATED:
                    return None
                base = (
                    "spec.jobTemplate.spec.template.spec"
                    if kind_of(root) == "CronJob"
                    else "spec.template.spec"
                )
                current = lst(pod_spec_of(root).get("tolerations"))
                added = [toleration_for(t) for t in wanted]
                operations = (
                    [
                        {"op": "add", "path": json_pointer(f"{base}.tolerations") + "/-", "value": t}
                        for t in added
                    ]
                    if current
                    else [{"op": "add", "path": json_pointer(f"{base}.tolerations"), "value": added}]
                )
                return json_patch(
                    root,
                    f"Tolerate {', '.join(taints)} on {ev.ref(root)}",
                    operations,
                    [Change(path=f"{base}.tolerations", current=current, proposed=[*current, *added])],
                    evidence,
                )

            return Issue(
                cause=Cause.UNTOLERATED_TAINT,
                severity="high",
                summary=(
                    f"the pod{where} node(s) {node_names}, tainted {', '.join(taints)}; "
                    f"the pod does not tolerate that and stays Pending"
                ),
                evidence=evidence,
                recommend=[
                    (
                        "add_toleration",
                        f"Add a toleration for {', '.join(taints)}, or schedule onto untainted nodes",
                    )
                ],
                confidence=0.95,
                fix=fix,
                related=[ev.ref(n) for n, _ in tainted],
            )
    insufficient = _INSUFFICIENT.findall(message)
    if insufficient:
        return _insufficient(
            snap, pod, matching or snap.nodes, [r for _, r in insufficient], message, evidence
        )
    if not matching and snap.nodes:
        selector = d(spec.get("nodeSelector"))
        evidence.append(ev.field(pod, "spec.nodeSelector", selector))
        return Issue(
            cause=Cause.NODE_SELECTOR_MISMATCH,
            severity="high",
            summary=(
                "no node matches the pod's node selector/affinity"
                f" ({', '.join(f'{k}={v}' for k, v in selector.items()) or 'affinity'}); it stays Pending"
            ),
            evidence=evidence,
            recommend=[
                ("fix_node_selector", "Label a node to match, or relax the pod's nodeSelector/affinity")
            ],
            confidence=0.85,
        )
    return Issue(
        cause=Cause.UNSCHEDULABLE,
        severity="high",
        summary=f"the pod cannot be scheduled: {ev.clip(message, 200)}",
        evidence=evidence,
        confidence=0.6,
    )


def _pod_requests(spec: JsonObject) -> dict[str, Decimal]:
    """What the scheduler reserves: the sum over containers, or the largest init container."""
    total: dict[str, Decimal] = defaultdict(Decimal)
    for container in containers(spec):
        for resource, value in resources_of(container)[0].items():
            amount = quantity(value)
            if amount is not None:
                total[resource] += amount
    for container in containers(spec, init=True):
        for resource, value in resources_of(container)[0].items():
            amount = quantity(value)
            if amount is not None and amount > total[resource]:
                total[resource] = amount
    return dict(total)


def _human(resource: str, value: Decimal) -> str:
    if resource in ("memory", "ephemeral-storage") or resource.startswith("hugepages"):
        gib = value / Decimal(1024**3)
        return f"{gib:.1f}Gi" if gib >= 1 else format_memory(value)
    if resource == "cpu":
        return f"{value.normalize():f}" if value >= 1 else f"{int(value * 1000)}m"
    return f"{value.normalize():f}"


def _insufficient(
    snap: ClusterSnapshot,
    pod: JsonObject,
    nodes: list[JsonObject],
    resources: list[str],
    message: str,
    evidence: list[Evidence],
) -> Issue:
    requests = _pod_requests(d(pod.get("spec")))
    parts = []
    never = False
    for resource in dict.fromkeys(resources):
        wanted = requests.get(resource)
        allocatable = [quantity(d(d(n.get("status")).get("allocatable")).get(resource)) for n in nodes]
        largest = max((a for a in allocatable if a is not None), default=None)
        if wanted is None:
            parts.append(f"no node has enough {resource}")
            continue
        evidence.append(
            ev.field(
                pod,
                f"spec.containers[*].resources.requests.{resource}",
                _human(resource, wanted),
                quote=f"the pod requests {_human(resource, wanted)} of {resource}",
            )
        )
        if largest is not None and wanted > largest:
            never = True
            biggest = max(
                nodes,
                key=lambda n: quantity(d(d(n.get("status")).get("allocatable")).get(resource)) or Decimal(0),
            )
            evidence.append(
                ev.field(
                    biggest,
                    f"status.allocatable.{resource}",
                    d(d(biggest.get("status")).get("allocatable")).get(resource),
                    quote=(
                        f"the largest node, {name_of(biggest)}, has {_human(resource, largest)} of {resource}"
                        " allocatable"
                    ),
                )
            )
            parts.append(
                f"requests {_human(resource, wanted)} of {resource}, more than any node has allocatable"
                f" (largest {_human(resource, largest)})"
            )
        else:
            parts.append(f"requests {_human(resource, wanted)} of {resource}, which no node has free")
    outcome = "so no node can ever fit it" if never else "so it waits for capacity"
    return Issue(
        cause=Cause.INSUFFICIENT_RESOURCES,
        severity="high",
        category="performance" if not never else "health",
        summary=f"the pod {'; '.join(parts)}, {outcome}: {ev.clip(message.split(' preemption:')[0], 120)}",
        evidence=evidence,
        recommend=[
            (
                "reduce_resource_requests",
                "Lower the pod's requests to what it needs" + (" and what a node can hold" if never else ""),
            ),
            (
                "add_capacity",
                "Add nodes (or larger nodes) with enough allocatable " + ", ".join(dict.fromkeys(resources)),
            ),
        ],
        confidence=0.95 if never else 0.85,
    )


def _terminating(snap: ClusterSnapshot, pod: JsonObject) -> Issue | None:
    node_name = s(d(pod.get("spec")).get("nodeName"))
    node = snap.get("Node", None, node_name) if node_name else None
    deleted = s(meta(pod).get("deletionTimestamp"))
    evidence = [ev.field(pod, "metadata.deletionTimestamp", deleted)]
    if node is not None and node_ready(node) != "True":
        ready = node_ready(node)
        evidence.append(
            ev.relation(
                pod,
                "scheduled-on",
                node,
                f"pod {name_of(pod)} runs on node {node_name}, whose Ready condition is {ready}",
            )
        )
        evidence.extend(
            ev.event(e)
            for e in snap.events_for(pod)
            if e.get("reason") in ("NodeNotReady", "TaintManagerEviction")
        )
        return Issue(
            cause=Cause.POD_STUCK_TERMINATING,
            severity="medium",
            role="symptom",
            summary=(
                f"the pod has been terminating since {deleted} on node {node_name}, whose kubelet is not"
                f" ready (Ready={ready}) and cannot confirm the deletion"
            ),
            evidence=evidence,
            depends_on=[ev.ref(node)],
            recommend=[
                (
                    "recover_node",
                    (
                        f"Bring node {node_name} back, or delete the pod with --force once the node is known"
                        " to be gone"
                    ),
                )
            ],
            confidence=0.9,
        )
    age = snap.age_seconds(deleted)
    if age is None or age < STUCK_TERMINATING_SECONDS:
        return None
    finalizers = [str(f) for f in lst(meta(pod).get("finalizers"))]
    if finalizers:
        evidence.append(ev.field(pod, "metadata.finalizers", finalizers))
    return Issue(
        cause=Cause.POD_STUCK_TERMINATING,
        severity="medium",
        summary=f"the pod has been terminating for {int(age)}s"
        + (f"; finalizers {finalizers} hold it" if finalizers else ""),
        evidence=evidence,
        recommend=[
            (
                "remove_finalizers" if finalizers else "force_delete_pod",
                "Find what blocks the deletion" + (f" (finalizers {finalizers})" if finalizers else ""),
            )
        ],
        confidence=0.7,
    )


def _evicted(snap: ClusterSnapshot, pod: JsonObject) -> Issue:
    status = d(pod.get("status"))
    node_name = s(d(pod.get("spec")).get("nodeName"))
    node = snap.get("Node", None, node_name) if node_name else None
    message = s(status.get("message"))
    return Issue(
        cause=Cause.POD_EVICTED,
        severity="low",
        role="symptom",
        summary=f"the pod was evicted from node {node_name}: {ev.clip(message, 160)}",
        evidence=[ev.field(pod, "status.reason", "Evicted", quote=f"Evicted: {message}")],
        depends_on=[ev.ref(node)] if node is not None else [],
        recommend=[
            (
                "check_node_pressure",
                f"Check node {node_name} for memory/disk pressure; delete evicted pods once understood",
            )
        ],
        confidence=0.8,
    )

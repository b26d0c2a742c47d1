"""The cluster's resource types, which the command policy needs to resolve ``secret``, ``cm``, CRDs.

Discovery runs ``kubectl api-resources -o json`` with the same binary, kubeconfig and context as
the commands themselves, so the policy and kubectl see the same cluster through the same
credentials (in-cluster config included) without a second Kubernetes client.

Until a discovery has succeeded there is no catalog and every command is refused (fail closed).
A later failed refresh keeps the last good catalog: it still describes the cluster, only perhaps
without its newest custom resources, which the policy then denies as unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from pilothouse.executor.runner import ProcessOutcome
from pilothouse.observability.logging import get_logger
from pilothouse.policy import ResourceRef, StaticResourceCatalog

log = get_logger("pilothouse.executor.discovery")

DISCOVERY_ARGS = ("api-resources", "-o", "json")
DISCOVERY_TIMEOUT_SECONDS = 30.0
# Generous: a cluster with many CRDs answers with a few hundred KiB.
_DISCOVERY_OUTPUT_BYTES = 16 * 1024 * 1024
# Core types whose absence means the answer cannot be trusted for the Secret check: the policy
# relies on the core group winning a shared name, which it cannot if the core group is missing.
_REQUIRED_CORE = frozenset({"pods", "secrets", "namespaces"})


class DiscoveryError(RuntimeError):
    pass


@dataclass(frozen=True)
class DiscoveredResource:
    ref: ResourceRef
    verbs: tuple[str, ...]

    def payload(self) -> dict[str, Any]:
        """One entry of ``POST /agent/discovery``."""
        return {
            "plural": self.ref.plural,
            "singular": self.ref.singular,
            "kind": self.ref.kind,
            "short_names": list(self.ref.short_names),
            "group": self.ref.group,
            "namespaced": self.ref.namespaced,
            # The server's policy expands categories (`kubectl get all`) from these.
            "categories": list(self.ref.categories),
            "verbs": list(self.verbs),
        }


def parse_api_resources(text: bytes | str) -> tuple[DiscoveredResource, ...]:
    """The resources in ``kubectl api-resources -o json`` output (an ``APIResourceList``)."""
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise DiscoveryError(f"kubectl api-resources did not print JSON: {error}") from None
    entries = document.get("resources") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise DiscoveryError('kubectl api-resources printed no "resources" list')
    resources = tuple(_parse_entry(entry) for entry in entries)
    missing = _REQUIRED_CORE - {item.ref.plural for item in resources if not item.ref.group}
    if missing:
        raise DiscoveryError(f"discovery lacks core resources ({', '.join(sorted(missing))})")
    return resources


def _parse_entry(entry: object) -> DiscoveredResource:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry.get("kind"):
        raise DiscoveryError(f"malformed api-resources entry: {str(entry)[:200]}")
    kind = str(entry["kind"])
    # The listing shows only each type's preferred version, so versions stay unknown (any is
    # accepted): TYPE.v1.GROUP must not be denied merely because v2 is preferred.
    ref = ResourceRef(
        plural=entry["name"],
        singular=str(entry.get("singularName") or kind.lower()),
        kind=kind,
        short_names=tuple(str(name) for name in entry.get("shortNames") or ()),
        group=str(entry.get("group") or ""),
        namespaced=bool(entry.get("namespaced", True)),
        categories=tuple(str(name) for name in entry.get("categories") or ()),
    )
    return DiscoveredResource(ref, tuple(str(verb) for verb in entry.get("verbs") or ()))


class KubectlRunner(Protocol):
    async def run(
        self, args: Sequence[str], *, time_limit: float, max_output_bytes: int
    ) -> ProcessOutcome: ...


async def discover_with_kubectl(kubectl: KubectlRunner) -> tuple[DiscoveredResource, ...]:
    outcome = await kubectl.run(
        DISCOVERY_ARGS, time_limit=DISCOVERY_TIMEOUT_SECONDS, max_output_bytes=_DISCOVERY_OUTPUT_BYTES
    )
    stderr = outcome.stderr.data.decode(errors="replace").strip()
    if outcome.timed_out:
        raise DiscoveryError(f"kubectl api-resources timed out after {DISCOVERY_TIMEOUT_SECONDS:g} s")
    if outcome.stdout.truncated:
        raise DiscoveryError("kubectl api-resources printed more than the discovery output limit")
    if outcome.exit_code != 0 and not outcome.stdout.data.strip():
        raise DiscoveryError(f"kubectl api-resources failed ({outcome.exit_code}): {stderr[:500]}")
    resources = parse_api_resources(outcome.stdout.data)
    if outcome.exit_code != 0:
        # Typically one aggregated API (metrics-server) is down. Its types are then unknown and
        # denied; refusing every command instead would punish the whole cluster for one add-on.
        log.warning("executor.discovery.partial", exit_code=outcome.exit_code, stderr=stderr[:500])
    return resources


Fetch = Callable[[], Awaitable[tuple[DiscoveredResource, ...]]]


class ResourceDiscovery:
    """The latest good discovery, refreshed on request; concurrent refreshes share one run."""

    def __init__(self, fetch: Fetch, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._resources: tuple[DiscoveredResource, ...] = ()
        self._catalog: StaticResourceCatalog | None = None
        self._generation = 0
        self._attempts = 0  # discoveries started
        self._last_attempt: float | None = None  # when the latest one started (clock)
        self._last_error: str | None = None
        self._running: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()  # set when the resources change; the reader clears it

    @property
    def catalog(self) -> StaticResourceCatalog | None:
        """None until a discovery has succeeded: callers must then refuse to run anything."""
        return self._catalog

    @property
    def resources(self) -> tuple[DiscoveredResource, ...]:
        return self._resources

    @property
    def generation(self) -> int:
        """Incremented whenever the set of resources changes."""
        return self._generation

    @property
    def attempts(self) -> int:
        """How many discoveries have started; see ``refresh_after``."""
        return self._attempts

    @property
    def last_error(self) -> str | None:
        """Why the latest attempt failed; None after a success."""
        return self._last_error

    async def refresh(self) -> None:
        """Run discovery now, or join the run already in progress. Never raises for a failure:
        ``last_error`` says what went wrong."""
        if self._running is None or self._running.done():
            self._attempts += 1
            self._last_attempt = self._clock()
            self._running = asyncio.create_task(self._run(), name="executor-discovery")
        # Shielded: one caller being cancelled must not cancel the run the others wait for.
        await asyncio.shield(self._running)

    async def refresh_unless_recent(self, seconds: float) -> None:
        """Refresh unless an attempt started within ``seconds`` (joining one in progress)."""
        recent = self._last_attempt is not None and self._clock() - self._last_attempt < seconds
        if not recent or self._in_progress():
            await self.refresh()

    async def refresh_after(self, attempt: int, *, min_interval: float) -> None:
        """Return once a discovery that started after the ``attempt``-th has finished.

        A command naming a type the catalog lacks reads ``attempts`` first and calls this: only a
        discovery that started after the command arrived can know a type created just before. One
        that is in progress is joined, so a burst of such commands shares at most two; and none
        starts sooner than ``min_interval`` after the previous one, so steady traffic naming a type
        that does not exist costs at most one ``kubectl api-resources`` per interval.
        """
        while self._attempts <= attempt or self._in_progress():
            if self._in_progress():
                assert self._running is not None
                await asyncio.shield(self._running)
                continue
            since = self._clock() - self._last_attempt if self._last_attempt is not None else min_interval
            if since < min_interval:
                await asyncio.sleep(min_interval - since)
                continue  # another caller may have started one meanwhile
            await self.refresh()

    def _in_progress(self) -> bool:
        return self._running is not None and not self._running.done()

    async def aclose(self) -> None:
        """Cancel a discovery in progress (its kubectl is killed with it)."""
        if self._running is not None and not self._running.done():
            self._running.cancel()
            await asyncio.wait({self._running})

    async def _run(self) -> None:
        try:
            resources = await self._fetch()
        except Exception as error:  # any failure: keep the last good catalog, record why
            self._last_error = str(error) or type(error).__name__
            log.warning("executor.discovery.failed", error=self._last_error, have_catalog=bool(self._catalog))
            return
        self._last_error = None
        if resources != self._resources or self._catalog is None:
            self._resources = resources
            self._catalog = StaticResourceCatalog(item.ref for item in resources)
            self._generation += 1
            self.changed.set()
            log.info("executor.discovery.loaded", resources=len(resources), generation=self._generation)


Report = Callable[[list[dict[str, Any]]], Awaitable[bool]]


async def maintain_discovery(
    discovery: ResourceDiscovery,
    report: Report,
    *,
    refresh_seconds: float,
    retry_seconds: float = 5.0,
) -> None:
    """Refresh ``discovery`` every ``refresh_seconds`` (every ``retry_seconds`` until it first
    succeeds) and ``report`` each new set of resources. ``report`` answers False when the server
    does not accept discovery, which ends reporting. Runs until cancelled."""
    loop = asyncio.get_running_loop()
    reported_generation = 0
    reporting = True
    next_refresh = loop.time()
    while True:
        if loop.time() >= next_refresh:
            await discovery.refresh()
            next_refresh = loop.time() + (refresh_seconds if discovery.catalog else retry_seconds)
        wake_at = next_refresh
        discovery.changed.clear()
        generation = discovery.generation
        if reporting and generation != reported_generation:
            try:
                reporting = await report([item.payload() for item in discovery.resources])
            except Exception as error:  # the server is away; try again soon
                log.warning("executor.discovery.report_failed", error=str(error))
                wake_at = min(wake_at, loop.time() + retry_seconds)
            else:
                reported_generation = generation
                if not reporting:
                    log.info("executor.discovery.report_unsupported")
        # Also woken by a refresh the handler triggered (an unknown type), to report it promptly.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(discovery.changed.wait(), max(0.0, wake_at - loop.time()))

"""What an analyzer may read: the snapshot, and the container logs the caller allows."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from pilothouse.ai.objects import JsonObject, name_of, namespace_of, uid_of
from pilothouse.ai.snapshot import ClusterSnapshot, LogLines


@dataclass
class AnalysisContext:
    """What an analyzer may read: the snapshot, and the logs of the pods the caller allows.

    ``log_pods`` (pod uids) bounds which pods' logs are read: an investigation allows the pods
    in its scope, a scan the failing ones. ``log_budget`` caps how many distinct pods are read.
    """

    snapshot: ClusterSnapshot
    log_pods: Collection[str] | None = None
    log_budget: int = 50
    _read: set[str] = field(default_factory=set)

    def may_read_logs(self, pod: JsonObject) -> bool:
        uid = uid_of(pod)
        if self.log_pods is not None and uid not in self.log_pods:
            return False
        return uid in self._read or len(self._read) < self.log_budget

    async def logs(self, pod: JsonObject, container: str, *, previous: bool = False) -> LogLines | None:
        cache = self.snapshot.logs
        if cache is None or not container or not self.may_read_logs(pod):
            return None
        self._read.add(uid_of(pod))
        return await cache.get(namespace_of(pod), name_of(pod), container, previous)

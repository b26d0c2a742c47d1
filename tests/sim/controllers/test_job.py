"""Job controller: completions, failure back-off and limits, deadlines, suspension, TTL, Indexed jobs."""

from __future__ import annotations

import pytest

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.controllers.job import JobController, backoff_remaining, format_indexes, parse_indexes
from pilothouse.sim.objects import rfc3339
from pilothouse.sim.store import JsonObject
from tests.sim.controllers.simkit import START, events, get, make_cluster
from tests.sim.controllers.workloadkit import (
    NS,
    delete,
    finish,
    job,
    names,
    patch_spec,
    pods,
    ready,
    remove_terminating,
    writes,
)


@pytest.mark.parametrize(
    ("failures", "since_last", "remaining"),
    [
        (0, 0, 0),
        (1, 0, 10),
        (1, 4, 6),
        (2, 0, 20),
        (3, 25, 15),
        (6, 0, 320),
        (7, 0, 360),
        (20, 100, 260),
        (1, 11, 0),
    ],
)
def test_backoff_remaining(failures: int, since_last: float, remaining: float) -> None:
    assert backoff_remaining(failures, 1000.0, 1000.0 + since_last) == remaining


@pytest.mark.parametrize(
    ("indexes", "text"), [(set(), ""), ({3}, "3"), ({0, 1, 2, 5}, "0-2,5"), ({1, 3}, "1,3")]
)
def test_completed_indexes_round_trip(indexes: set[int], text: str) -> None:
    assert format_indexes(indexes) == text
    assert parse_indexes(text) == indexes


@pytest.fixture
def cluster() -> SimCluster:
    return make_cluster(JobController)


def _job(cluster: SimCluster, name: str = "work") -> JsonObject:
    return get(cluster, "Job", NS, name, "batch")


def _conditions(obj: JsonObject) -> list[tuple[str, str, str]]:
    return [(c["type"], c["status"], c["reason"]) for c in obj["status"].get("conditions", [])]


def test_runs_pods_to_the_number_of_completions(cluster: SimCluster) -> None:
    cluster.apply(job("work", completions=2))
    (first,) = pods(cluster, "work-")
    uid = _job(cluster)["metadata"]["uid"]
    labels = first["metadata"]["labels"]
    assert {
        k: labels[k]
        for k in (
            "batch.kubernetes.io/job-name",
            "job-name",
            "batch.kubernetes.io/controller-uid",
            "controller-uid",
        )
    } == {
        "batch.kubernetes.io/job-name": "work",
        "job-name": "work",
        "batch.kubernetes.io/controller-uid": uid,
        "controller-uid": uid,
    }
    assert _job(cluster)["status"] == {
        "startTime": rfc3339(START),
        "active": 1,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    }
    finish(cluster, first, succeeded=True)
    second = [p for p in pods(cluster, "work-") if p["metadata"]["name"] != first["metadata"]["name"]]
    assert len(second) == 1
    cluster.advance(5)
    finish(cluster, second[0], succeeded=True)
    status = _job(cluster)["status"]
    assert (status["succeeded"], status.get("active"), status["completionTime"]) == (
        2,
        None,
        rfc3339(START + 5),
    )
    assert _conditions(_job(cluster)) == [
        ("SuccessCriteriaMet", "True", "CompletionsReached"),
        ("Complete", "True", "CompletionsReached"),
    ]
    assert ("Normal", "Completed", "Job completed") in events(cluster, _job(cluster))


def test_failed_pods_are_replaced_after_a_doubling_back_off(cluster: SimCluster) -> None:
    cluster.apply(job("work", backoffLimit=2))
    finish(cluster, pods(cluster, "work-")[0], succeeded=False)
    assert pods(cluster, "work-") == [p for p in pods(cluster, "work-") if p["status"]["phase"] == "Failed"]
    cluster.advance(9)
    assert len(pods(cluster, "work-")) == 1
    cluster.advance(1)
    assert len(pods(cluster, "work-")) == 2
    retry = next(p for p in pods(cluster, "work-") if p["status"]["phase"] == "Pending")
    finish(cluster, retry, succeeded=False)
    cluster.advance(19)
    assert len(pods(cluster, "work-")) == 2
    cluster.advance(1)
    last = next(p for p in pods(cluster, "work-") if p["status"]["phase"] == "Pending")
    finish(cluster, last, succeeded=False)
    finished = _job(cluster)
    assert finished["status"]["failed"] == 3
    assert _conditions(finished) == [
        ("FailureTarget", "True", "BackoffLimitExceeded"),
        ("Failed", "True", "BackoffLimitExceeded"),
    ]
    assert ("Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit") in events(
        cluster, finished
    )


def test_failure_waits_for_deleted_pods_to_terminate(cluster: SimCluster) -> None:
    cluster.apply(job("work", parallelism=2, completions=2, backoffLimit=0))
    doomed, running = pods(cluster, "work-")
    ready(cluster, running)
    finish(cluster, doomed, succeeded=False)
    assert _conditions(_job(cluster)) == [("FailureTarget", "True", "BackoffLimitExceeded")]
    assert get(cluster, "Pod", NS, running["metadata"]["name"])["metadata"].get("deletionTimestamp")
    assert _job(cluster)["status"]["terminating"] == 1
    remove_terminating(cluster)
    status = _job(cluster)["status"]
    assert (status["failed"], status["terminating"]) == (2, 0)  # a pod deleted while running failed
    assert [c[0] for c in _conditions(_job(cluster))] == ["FailureTarget", "Failed"]


def test_active_deadline(cluster: SimCluster) -> None:
    cluster.apply(job("work", activeDeadlineSeconds=30))
    cluster.advance(29)
    assert not _job(cluster)["status"].get("conditions")
    cluster.advance(1)
    assert _conditions(_job(cluster)) == [
        ("FailureTarget", "True", "DeadlineExceeded"),
        ("Failed", "True", "DeadlineExceeded"),
    ]
    assert (
        _job(cluster)["status"]["conditions"][1]["message"] == "Job was active longer than specified deadline"
    )
    assert pods(cluster, "work-") == []


def test_suspend_and_resume(cluster: SimCluster) -> None:
    cluster.apply(job("work", suspend=True))
    assert pods(cluster, "work-") == []
    assert "startTime" not in _job(cluster)["status"]
    assert _conditions(_job(cluster)) == [("Suspended", "True", "JobSuspended")]
    cluster.advance(60)
    patch_spec(cluster, "batch", "Job", "work", suspend=False)
    assert len(pods(cluster, "work-")) == 1
    assert _job(cluster)["status"]["startTime"] == rfc3339(START + 60)
    assert _conditions(_job(cluster)) == [("Suspended", "False", "JobResumed")]
    patch_spec(cluster, "batch", "Job", "work", suspend=True)
    assert pods(cluster, "work-") == []
    assert "failed" not in _job(cluster)["status"]  # pods removed by suspension are not failures
    counts = {
        e["reason"]: e["count"]
        for e in cluster.events_for(_job(cluster))
        if e["reason"] in ("Suspended", "Resumed")
    }
    assert counts == {"Suspended": 2, "Resumed": 1}  # a repeated event is counted, as the correlator does


def test_a_pod_removed_before_it_finished_counts_as_failed(cluster: SimCluster) -> None:
    cluster.apply(job("work"))
    delete(cluster, "", "Pod", pods(cluster, "work-")[0]["metadata"]["name"])
    assert _job(cluster)["status"]["failed"] == 1
    cluster.advance(10)
    assert len(pods(cluster, "work-")) == 1


def test_finished_jobs_are_deleted_after_their_ttl(cluster: SimCluster) -> None:
    cluster.apply(job("work", ttlSecondsAfterFinished=100))
    finish(cluster, pods(cluster, "work-")[0], succeeded=True)
    cluster.advance(99)
    assert not _job(cluster)["metadata"].get("deletionTimestamp")
    cluster.advance(1)
    # Deleted in the foreground: the garbage collector (not running here) removes pods, then the job.
    assert _job(cluster)["metadata"]["finalizers"] == ["foregroundDeletion"]


def test_indexed_job(cluster: SimCluster) -> None:
    cluster.apply(job("work", completions=3, parallelism=2, completionMode="Indexed"))
    created = pods(cluster, "work-")
    by_index = {p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]: p for p in created}
    assert sorted(by_index) == ["0", "1"]
    first = by_index["1"]
    assert first["metadata"]["name"].startswith("work-1-")
    assert first["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "1"
    assert first["spec"]["hostname"] == "work-1"
    assert {
        "name": "JOB_COMPLETION_INDEX",
        "valueFrom": {
            "fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}
        },
    } in first["spec"]["containers"][0]["env"]
    finish(cluster, first, succeeded=True)
    assert _job(cluster)["status"]["completedIndexes"] == "1"
    third = [p for p in pods(cluster, "work-") if p["metadata"]["name"].startswith("work-2-")]
    assert len(third) == 1
    for pod in [by_index["0"], third[0]]:
        finish(cluster, pod, succeeded=True)
    status = _job(cluster)["status"]
    assert (status["completedIndexes"], status["succeeded"]) == ("0-2", 3)
    assert _conditions(_job(cluster))[-1] == ("Complete", "True", "CompletionsReached")


def test_a_finished_job_writes_nothing(cluster: SimCluster) -> None:
    cluster.apply(job("work"))
    finish(cluster, pods(cluster, "work-")[0], succeeded=True)
    before = writes(cluster)
    cluster.engine.enqueue(JobController.name, f"{NS}/work")
    cluster.advance(3600)
    assert writes(cluster) == before
    assert names(pods(cluster, "work-"))

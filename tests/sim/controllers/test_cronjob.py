"""CronJob controller: schedule arithmetic, job creation, concurrency policies, history and deadlines."""

from __future__ import annotations

from typing import Any

import pytest

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.controllers.cronjob import CronJobController, job_name, most_recent_schedule
from pilothouse.sim.objects import rfc3339
from pilothouse.sim.store import JsonObject, clone
from pilothouse.sim.validation import parse_cron
from tests.sim.controllers.simkit import START, events, get, make_cluster
from tests.sim.controllers.workloadkit import NS, names, patch_spec, writes

# START is 2023-11-14T22:13:20Z; "*/5 * * * *" next fires at 22:15:00. The controller wakes 100 ms
# after each scheduled second, so tests look a second later.
FIRST = START + 100
EVERY_5 = "*/5 * * * *"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (START + 40, (None, 0)),
        (FIRST, (FIRST, 0)),
        (FIRST + 120, (FIRST, 0)),
        (FIRST + 960, (FIRST + 900, 4)),  # 22:31: the 22:30 run; 22:15, :20, :25 were missed too
        (START + 86_400, (FIRST + 86_100, 288)),
    ],
)
def test_most_recent_schedule(now: float, expected: tuple[float | None, int]) -> None:
    assert most_recent_schedule(parse_cron(EVERY_5), START, now) == expected


def test_job_names_count_minutes_since_the_epoch() -> None:
    assert job_name("tick", FIRST) == "tick-28333335"


def _cronjob(**spec: Any) -> JsonObject:
    job_template = {
        "metadata": {"labels": {"team": "data"}},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "app", "image": "busybox:1.37"}]}
            }
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick", "namespace": NS},
        "spec": {"schedule": EVERY_5, "jobTemplate": job_template, **spec},
    }


@pytest.fixture
def cluster() -> SimCluster:
    return make_cluster(CronJobController)


def _cj(cluster: SimCluster) -> JsonObject:
    return get(cluster, "CronJob", NS, "tick", "batch")


def _jobs(cluster: SimCluster) -> list[str]:
    return names(
        [j for j in cluster.objects_of("batch", "Job", NS) if not j["metadata"].get("deletionTimestamp")]
    )


def _complete(cluster: SimCluster, name: str, outcome: str = "Complete") -> None:
    """Write what the job controller would when a job finishes."""
    finished = clone(get(cluster, "Job", NS, name, "batch"))
    now = rfc3339(cluster.clock.now())
    finished["status"] = {
        "conditions": [{"type": outcome, "status": "True", "lastTransitionTime": now}],
        "startTime": now,
        **({"completionTime": now} if outcome == "Complete" else {}),
    }
    cluster.objects.save(cluster.resource("batch", "Job"), finished)
    cluster.engine.drain()


def test_creates_a_job_at_each_scheduled_time(cluster: SimCluster) -> None:
    cluster.apply(_cronjob())
    cluster.advance(FIRST - START)
    assert _jobs(cluster) == []
    cluster.advance(1)
    assert _jobs(cluster) == ["tick-28333335"]
    created = get(cluster, "Job", NS, "tick-28333335", "batch")
    assert created["metadata"]["annotations"] == {
        "batch.kubernetes.io/cronjob-scheduled-timestamp": "2023-11-14T22:15:00Z"
    }
    assert created["metadata"]["labels"] == {"team": "data"}
    assert created["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert created["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.37"
    status = _cj(cluster)["status"]
    assert status["lastScheduleTime"] == "2023-11-14T22:15:00Z"
    assert [ref["name"] for ref in status["active"]] == ["tick-28333335"]
    assert ("Normal", "SuccessfulCreate", "Created job tick-28333335") in events(cluster, _cj(cluster))
    cluster.advance(300)
    assert _jobs(cluster) == ["tick-28333335", "tick-28333340"]


def test_schedules_in_the_cronjob_time_zone(cluster: SimCluster) -> None:
    cluster.apply(_cronjob(schedule="0 0 * * *", timeZone="Europe/Berlin"))
    cluster.advance(86_400)
    (name,) = _jobs(cluster)
    annotation = get(cluster, "Job", NS, name, "batch")["metadata"]["annotations"]
    assert annotation["batch.kubernetes.io/cronjob-scheduled-timestamp"] == "2023-11-15T00:00:00+01:00"


def test_completed_jobs_leave_the_active_list(cluster: SimCluster) -> None:
    cluster.apply(_cronjob())
    cluster.advance(FIRST - START + 30)
    _complete(cluster, "tick-28333335")
    status = _cj(cluster)["status"]
    assert "active" not in status
    assert status["lastSuccessfulTime"] == rfc3339(FIRST + 30)
    assert ("Normal", "SawCompletedJob", "Saw completed job: tick-28333335, condition: Complete") in events(
        cluster, _cj(cluster)
    )


def test_forbid_skips_a_run_while_one_is_active(cluster: SimCluster) -> None:
    cluster.apply(_cronjob(concurrencyPolicy="Forbid"))
    cluster.advance(FIRST - START + 301)
    assert _jobs(cluster) == ["tick-28333335"]
    assert (
        "Normal",
        "JobAlreadyActive",
        "Not starting job because prior execution is running and concurrency policy is Forbid",
    ) in events(cluster, _cj(cluster))


def test_replace_deletes_the_active_job(cluster: SimCluster) -> None:
    cluster.apply(_cronjob(concurrencyPolicy="Replace"))
    cluster.advance(FIRST - START + 301)
    assert _jobs(cluster) == ["tick-28333340"]
    assert ("Normal", "SuccessfulDelete", "Deleted job tick-28333335") in events(cluster, _cj(cluster))
    assert [ref["name"] for ref in _cj(cluster)["status"]["active"]] == ["tick-28333340"]


def test_history_limits_delete_the_oldest_finished_jobs(cluster: SimCluster) -> None:
    cluster.apply(_cronjob(successfulJobsHistoryLimit=1, failedJobsHistoryLimit=1))
    for minute, outcome in ((35, "Complete"), (40, "Complete"), (45, "Failed"), (50, "Failed")):
        cluster.advance(300)
        _complete(cluster, f"tick-283333{minute}", outcome)
    assert _jobs(cluster) == ["tick-28333340", "tick-28333350"]
    deleted = [m for _, r, m in events(cluster, _cj(cluster)) if r == "SuccessfulDelete"]
    assert deleted == ["Deleted job tick-28333335", "Deleted job tick-28333345"]


def test_a_resumed_cronjob_runs_only_the_latest_missed_time(cluster: SimCluster) -> None:
    cluster.apply(_cronjob(suspend=True))
    cluster.advance(1010)  # 22:30:10: four runs missed while suspended
    assert _jobs(cluster) == []
    patch_spec(cluster, "batch", "CronJob", "tick", suspend=False)
    assert _jobs(cluster) == ["tick-28333350"]


def test_starting_deadline_drops_runs_that_are_too_late(cluster: SimCluster) -> None:
    cluster.apply(_cronjob(suspend=True, startingDeadlineSeconds=5))
    cluster.advance(1010)
    patch_spec(cluster, "batch", "CronJob", "tick", suspend=False)
    assert _jobs(cluster) == []
    cluster.advance(291)
    assert _jobs(cluster) == ["tick-28333355"]


def test_an_unparseable_schedule_is_reported_and_never_runs(cluster: SimCluster) -> None:
    cluster.apply(_cronjob())
    broken = clone(_cj(cluster))
    broken["spec"]["schedule"] = "every day"
    cluster.objects.save(
        cluster.resource("batch", "CronJob"), broken
    )  # past validation, as an old object might be
    cluster.engine.drain()
    cluster.advance(3600)
    assert _jobs(cluster) == []
    reasons = [r for _, r, _ in events(cluster, _cj(cluster))]
    assert reasons == ["UnparseableSchedule"]


def test_an_idle_cronjob_only_wakes_at_its_times(cluster: SimCluster) -> None:
    cluster.apply(_cronjob(schedule="0 0 1 1 *"))
    before = writes(cluster)
    cluster.advance(3600)
    assert writes(cluster) == before

"""Proposed actions: created from a diagnosis, approved or rejected by a person (or applied by
the autonomy level), applied with a dry run first, verified after. Every step is recorded in the
action's history and in the audit trail with who took it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pilothouse.actions import apply
from pilothouse.actions.models import AiSetting, ProposedAction
from pilothouse.actions.policy import (
    InsightSettings,
    InvestigationSettings,
    SafetyPolicy,
    needs_human,
    refusal,
)
from pilothouse.ai.findings import Finding, Remediation
from pilothouse.audit.clock import Clock, utc_now
from pilothouse.audit.service import Actor, AuditAction, AuditOutcome, record
from pilothouse.contexts.service import ClusterTargets
from pilothouse.errors import ApiError, Conflict, Forbidden, NotFound, isoformat_or_none
from pilothouse.kube.errors import kube_errors
from pilothouse.observability.logging import get_logger
from pilothouse.policy.objects import Access, ModeForbids, check_access
from pilothouse.store.database import Database

log = get_logger(__name__)

AUTONOMY_ACTOR = Actor(key_id=None, name="autonomy-policy")
SETTINGS: dict[str, type[BaseModel]] = {
    "safety_policy": SafetyPolicy,
    "investigation_settings": InvestigationSettings,
    "insight_settings": InsightSettings,
}


class ActionExpired(ApiError):
    status_code = 409
    error = "action_expired"
    default_message = "Action approval window has expired"
    top_level = ("action_id", "expired_at")


def new_action_id(now: datetime) -> str:
    return f"act-{now:%Y%m%d}-{secrets.token_hex(4)}"


class AiSettingsStore:
    """The AI settings documents, with their defaults until someone changes them."""

    def __init__(self, database: Database, clock: Clock = utc_now) -> None:
        self.database = database
        self.clock = clock

    async def load(self) -> dict[str, Any]:
        async with self.database.session() as session:
            rows = {row.name: row for row in (await session.execute(select(AiSetting))).scalars()}
        return {
            name: model.model_validate(rows[name].value if name in rows else {})
            for name, model in SETTINGS.items()
        }

    async def policy(self) -> SafetyPolicy:
        loaded: SafetyPolicy = (await self.load())["safety_policy"]
        return loaded

    async def update(self, changes: dict[str, dict[str, Any]], actor: Actor) -> list[str]:
        """Merge ``changes`` into the stored documents (validated whole); the fields changed."""
        current = await self.load()
        updated: list[str] = []
        merged: dict[str, Any] = {}
        for name, fields in changes.items():
            model = SETTINGS[name]
            before = current[name].model_dump()
            after = model.model_validate({**before, **fields})
            merged[name] = after
            updated += [
                f"{name}.{key}" for key, value in after.model_dump().items() if before.get(key) != value
            ]
        now = self.clock()
        async with self.database.session() as session:
            for name, value in merged.items():
                row = await session.get(AiSetting, name)
                if row is None:
                    session.add(
                        AiSetting(name=name, value=value.model_dump(), updated_at=now, updated_by=actor.name)
                    )
                else:
                    row.value, row.updated_at, row.updated_by = value.model_dump(), now, actor.name
            record(
                session,
                action=AuditAction.AI_CONFIG_UPDATE,
                outcome=AuditOutcome.SUCCESS,
                actor=actor,
                occurred_at=now,
                details={"updated_fields": updated},
            )
        return updated


def action_body(row: ProposedAction, *, now: datetime) -> dict[str, Any]:
    status = row.status
    if status == "pending" and row.expires_at <= now:
        status = "expired"
    return {
        "action_id": row.id,
        "investigation_id": row.investigation_id,
        "cluster_id": row.cluster_id,
        "status": status,
        "severity": row.severity,
        "action_type": row.action_type,
        "title": row.title,
        "description": row.description,
        "resource": row.resource,
        "changes": row.changes,
        "operation": row.operation,
        "risk_assessment": row.risk,
        "proposed_at": isoformat_or_none(row.proposed_at),
        "expires_at": isoformat_or_none(row.expires_at),
        "decided_by": row.decided_by,
        "decided_at": isoformat_or_none(row.decided_at),
        "approved_by": row.decided_by if row.status not in ("pending", "rejected", "expired") else None,
        "notes": row.notes,
        "result": row.result,
        "history": row.history,
    }


class ActionService:
    def __init__(
        self,
        database: Database,
        targets: ClusterTargets,
        settings: AiSettingsStore,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.database = database
        self.targets = targets
        self.settings = settings
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    # --- proposing ------------------------------------------------------------------------------

    async def propose(
        self,
        cluster_id: str,
        investigation_id: str | None,
        proposals: Sequence[tuple[Finding | None, Remediation]],
    ) -> list[ProposedAction]:
        policy = await self.settings.policy()
        if policy.autonomy_level == "0_observe_only" or not proposals:
            return []
        now = self.clock()
        rows: list[ProposedAction] = []
        async with self.database.session() as session:
            for finding, remediation in proposals:
                rows.append(
                    self._new_row(session, cluster_id, investigation_id, finding, remediation, policy, now)
                )
        for row in rows:
            if row.risk["requires_approval"] is False and row.risk.get("blocked_reason") is None:
                await self.approve(
                    row.id, AUTONOMY_ACTOR, notes=f"applied by autonomy level {policy.autonomy_level}"
                )
        return rows

    def _new_row(
        self,
        session: AsyncSession,
        cluster_id: str,
        investigation_id: str | None,
        finding: Finding | None,
        remediation: Remediation,
        policy: SafetyPolicy,
        now: datetime,
    ) -> ProposedAction:
        target = remediation.target
        params = remediation.params
        blocked = refusal(
            policy,
            operation=remediation.operation,
            kind=target.kind,
            namespace=target.namespace,
            params=params,
        )
        human = needs_human(
            policy, operation=remediation.operation, kind=target.kind, params=params, risk=remediation.risk
        )
        issues = [blocked] if blocked else []
        if remediation.operation in ("rollout_restart", "set_resources", "set_image", "rollback"):
            issues.append("The workload's pods are replaced (a rolling update)")
        if remediation.operation == "delete_pod":
            issues.append("The pod is deleted; its controller, if any, replaces it")
        row = ProposedAction(
            id=new_action_id(now),
            investigation_id=investigation_id,
            cluster_id=cluster_id,
            status="pending",
            severity=finding.severity if finding else "medium",
            action_type=remediation.operation,
            title=remediation.description[:500],
            description=(finding.summary if finding else remediation.description),
            resource=target.model_dump(exclude_none=True),
            changes={
                change.path: {"current": change.current, "proposed": change.proposed}
                for change in remediation.changes
            },
            operation=remediation.model_dump(mode="json"),
            risk={
                "risk_level": remediation.risk,
                "potential_issues": issues,
                "requires_approval": human is not None or blocked is not None,
                "approval_reason": blocked or human,
                "blocked_reason": blocked,
            },
            proposed_at=now,
            expires_at=now + timedelta(minutes=policy.action_ttl_minutes),
            decided_by=None,
            decided_by_key=None,
            decided_at=None,
            notes=None,
            result=None,
            history=[
                {"at": isoformat_or_none(now), "status": "pending", "by": "pilothouse", "note": "proposed"}
            ],
        )
        session.add(row)
        return row

    # --- reading --------------------------------------------------------------------------------

    async def get(self, action_id: str) -> dict[str, Any]:
        async with self.database.session() as session:
            row = await session.get(ProposedAction, action_id)
            if row is None:
                raise NotFound.of("action", action_id)
            return action_body(row, now=self.clock())

    async def of_investigation(self, investigation_id: str) -> list[dict[str, Any]]:
        now = self.clock()
        async with self.database.session() as session:
            rows = (
                await session.execute(
                    select(ProposedAction)
                    .where(ProposedAction.investigation_id == investigation_id)
                    .order_by(ProposedAction.proposed_at)
                )
            ).scalars()
            return [action_body(row, now=now) for row in rows]

    async def pending(
        self,
        *,
        severity: str | None,
        investigation_id: str | None,
        limit: int,
        allowed: frozenset[str] | None,
    ) -> tuple[int, list[dict[str, Any]]]:
        now = self.clock()
        statement = select(ProposedAction).where(
            ProposedAction.status == "pending", ProposedAction.expires_at > now
        )
        if severity:
            statement = statement.where(ProposedAction.severity == severity)
        if investigation_id:
            statement = statement.where(ProposedAction.investigation_id == investigation_id)
        if allowed is not None:
            statement = statement.where(ProposedAction.cluster_id.in_(allowed))
        async with self.database.session() as session:
            total = await session.scalar(select(func.count()).select_from(statement.subquery())) or 0
            rows = (
                await session.execute(statement.order_by(ProposedAction.proposed_at.desc()).limit(limit))
            ).scalars()
            return total, [action_body(row, now=now) for row in rows]

    # --- deciding -------------------------------------------------------------------------------

    async def reject(self, action_id: str, actor: Actor, *, reason: str | None) -> dict[str, Any]:
        now = self.clock()
        async with self.database.session() as session:
            row = await self._pending_row(session, action_id, now)
            self._transition(row, "rejected", actor, reason or "rejected", now)
            row.decided_by, row.decided_by_key, row.decided_at, row.notes = (
                actor.name,
                actor.key_id,
                now,
                reason,
            )
            record(
                session,
                action=AuditAction.ACTION_REJECT,
                outcome=AuditOutcome.SUCCESS,
                actor=actor,
                occurred_at=now,
                cluster_id=row.cluster_id,
                reason=reason,
                details={"action_id": action_id},
            )
            return action_body(row, now=now)

    async def approve(
        self, action_id: str, actor: Actor, *, notes: str | None = None, require_verification: bool = True
    ) -> dict[str, Any]:
        now = self.clock()
        policy = await self.settings.policy()
        async with self.database.session() as session:
            row = await self._pending_row(session, action_id, now)
            cluster_id, operation = row.cluster_id, dict(row.operation)
        target_ref = operation.get("target") or {}
        problem = refusal(
            policy,
            operation=str(operation.get("operation")),
            kind=str(target_ref.get("kind")),
            namespace=target_ref.get("namespace"),
            params=operation.get("params") or {},
        )
        if problem is None and policy.autonomy_level in ("0_observe_only", "1_suggest_only"):
            problem = f"autonomy level {policy.autonomy_level} does not apply actions"
        if problem is None and str(operation.get("operation")) == "delete_pod":
            problem = await self._deletions_exceeded(cluster_id, policy, now)
        target = await self.targets.get(cluster_id)
        if problem is None:
            try:
                check_access(target.security_mode, Access.WRITE, "applying an action")
            except ModeForbids as error:
                problem = str(error)
        if problem is not None:
            await self._audit_denied(action_id, cluster_id, actor, problem)
            raise Forbidden(problem, details={"action_id": action_id})
        with kube_errors(cluster_id):
            try:
                chosen = await apply.plan(target.ops, target.resolver, operation)
                await apply.execute(target.ops, chosen, dry_run=True)
            except apply.ActionPlanError as error:
                await self._finish(
                    action_id, "failed", actor, f"cannot apply: {error}", {"error": str(error)}
                )
                raise Conflict(
                    f"The action cannot be applied: {error}", details={"action_id": action_id}
                ) from error
            except ApiError:
                raise
            except Exception as error:  # the dry run refused it: record why, then answer
                await self._finish(
                    action_id, "failed", actor, f"dry run refused: {error}", {"error": str(error)}
                )
                raise
        async with self.database.session() as session:
            row = await self._pending_row(session, action_id, now)
            row.decided_by, row.decided_by_key, row.decided_at, row.notes = (
                actor.name,
                actor.key_id,
                now,
                notes,
            )
            self._transition(row, "executing", actor, notes or "approved; dry run accepted", now)
            record(
                session,
                action=AuditAction.ACTION_APPROVE,
                outcome=AuditOutcome.SUCCESS,
                actor=actor,
                occurred_at=now,
                cluster_id=cluster_id,
                reason=notes,
                details={"action_id": action_id, "plan": chosen.describe()},
            )
        task = asyncio.create_task(self._apply_and_verify(action_id, chosen, actor, require_verification))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        body = await self.get(action_id)
        body.update(approved_at=isoformat_or_none(now), approved_by=actor.name, execution_status="executing")
        return body

    async def _apply_and_verify(self, action_id: str, chosen: apply.Plan, actor: Actor, verify: bool) -> None:
        async with self.database.session() as session:
            row = await session.get(ProposedAction, action_id)
            cluster_id = row.cluster_id if row else ""
        try:
            target = await self.targets.get(cluster_id)
            result = await apply.execute(target.ops, chosen, dry_run=False)
        except Exception as error:
            await self._finish(action_id, "failed", actor, f"apply failed: {error}", {"error": str(error)})
            return
        applied = {
            "resource_version": (result.get("metadata") or {}).get("resourceVersion"),
            "plan": chosen.describe(),
        }
        await self._finish(action_id, "applied", actor, "applied", applied)
        if not verify:
            return
        settings: InvestigationSettings = (await self.settings.load())["investigation_settings"]
        outcome = await apply.verify(
            target.ops,
            target.resolver,
            chosen,
            timeout_seconds=settings.verification_timeout_seconds,
            stable_seconds=settings.verification_stable_seconds,
        )
        status = "verified" if outcome.verified else "failed"
        await self._finish(
            action_id,
            status,
            AUTONOMY_ACTOR if actor is AUTONOMY_ACTOR else Actor(key_id=None, name="verifier"),
            outcome.detail,
            {
                **applied,
                "verification": {
                    "verified": outcome.verified,
                    "detail": outcome.detail,
                    "observations": outcome.observations,
                },
            },
        )

    async def _finish(
        self, action_id: str, status: str, actor: Actor, note: str, result: dict[str, Any]
    ) -> None:
        now = self.clock()
        async with self.database.session() as session:
            row = await session.get(ProposedAction, action_id)
            if row is None:
                return
            self._transition(row, status, actor, note, now)
            row.result = result
            record(
                session,
                action=AuditAction.ACTION_APPLY,
                outcome=AuditOutcome.SUCCESS if status in ("applied", "verified") else AuditOutcome.FAILURE,
                actor=actor,
                occurred_at=now,
                cluster_id=row.cluster_id,
                reason=note,
                details={"action_id": action_id, "status": status},
            )

    async def _pending_row(self, session: AsyncSession, action_id: str, now: datetime) -> ProposedAction:
        row = await session.get(ProposedAction, action_id)
        if row is None:
            raise NotFound.of("action", action_id)
        if row.status == "pending" and row.expires_at <= now:
            self._transition(
                row, "expired", Actor(key_id=None, name="pilothouse"), "approval window passed", now
            )
            await session.commit()
        if row.status == "expired":
            raise ActionExpired(
                details={"action_id": action_id, "expired_at": isoformat_or_none(row.expires_at)}
            )
        if row.status != "pending":
            raise Conflict(
                f"Action {action_id} is {row.status}, not pending",
                details={"action_id": action_id, "status": row.status},
            )
        return row

    @staticmethod
    def _transition(row: ProposedAction, status: str, actor: Actor, note: str, now: datetime) -> None:
        row.status = status
        row.history = [
            *row.history,
            {"at": isoformat_or_none(now), "status": status, "by": actor.name, "note": note},
        ]

    async def _deletions_exceeded(self, cluster_id: str, policy: SafetyPolicy, now: datetime) -> str | None:
        async with self.database.session() as session:
            count = await session.scalar(
                select(func.count()).where(
                    ProposedAction.cluster_id == cluster_id,
                    ProposedAction.action_type == "delete_pod",
                    ProposedAction.status.in_(("executing", "applied", "verified")),
                    ProposedAction.decided_at > now - timedelta(hours=24),
                )
            )
        if (count or 0) >= policy.max_resource_deletion_count:
            allowed = policy.max_resource_deletion_count
            return f"the safety policy allows {allowed} deletions per 24 h on a cluster"
        return None

    async def _audit_denied(self, action_id: str, cluster_id: str, actor: Actor, reason: str) -> None:
        async with self.database.session() as session:
            record(
                session,
                action=AuditAction.ACTION_APPROVE,
                outcome=AuditOutcome.DENIED,
                actor=actor,
                occurred_at=self.clock(),
                cluster_id=cluster_id,
                reason=reason,
                details={"action_id": action_id},
            )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

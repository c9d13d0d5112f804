"""Break-glass: a named gate of one environment bypassed for a bounded time, by a person, for
a reason, announced in status and audited; a second person's approval where the environment
asks for it (`break-glass: {approval: true}`).

The automated checks are the safe path; this is the fast, familiar one for when they are
wrong. An override takes effect the moment it is recorded (or approved): every gate reads the
store when it decides, so nothing needs restarting. A drill walks the same steps, records the
time each took, and never takes effect.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..common.errors import UserError
from ..store.deployments import DeploymentRecords
from ..store.overrides import Gate, Override, OverrideRecords, OverrideState
from ..workflow.project import parse_duration
from .envfile import EnvironmentFile


@dataclass(frozen=True)
class Ask:
    """Who asks to bypass which gates of which environment, why, and for how long (`30m`)."""

    environment: str
    gates: list[Gate]
    reason: str
    ttl: str
    actor: str


@dataclass
class Stage:
    name: str
    seconds: float


@dataclass
class Drill:
    """How long each stage of a rehearsed override took (seconds)."""

    override: Override
    stages: list[Stage] = field(default_factory=list)


def gates_named(names: list[str]) -> list[Gate]:
    try:
        return sorted({Gate(n) for n in names} or {Gate.POLICY})
    except ValueError:
        unknown = next(n for n in names if n not in Gate.__members__.values())
        raise UserError(
            f"{unknown!r} is not a gate that can be bypassed",
            where="--bypass",
            hint="policy, window or analysis",
        ) from None


class BreakGlass:
    def __init__(
        self,
        overrides: OverrideRecords,
        events: DeploymentRecords,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.overrides, self.events, self.clock = overrides, events, clock

    def request(self, ask: Ask, spec: EnvironmentFile, drill: bool = False) -> Override:
        """Record an override; it takes effect now unless a second person must approve."""
        if not ask.reason.strip():
            raise UserError(
                "an override needs a reason",
                where="--reason",
                hint="say why, in words others will read in the audit trail",
            )
        try:
            seconds = parse_duration(ask.ttl)
        except ValueError as exc:
            raise UserError(str(exc), where="--ttl") from None
        longest = parse_duration(spec.break_glass.max_ttl)
        if not 0 < seconds <= longest:
            raise UserError(
                f"an override lasts more than 0 and at most {longest:g}s here, not {seconds:g}s",
                where="--ttl",
                hint="break-glass: {max-ttl: ...} in the environment file sets the most",
            )
        now = self.clock()
        override = self.overrides.add(
            Override(
                id=0,
                environment=ask.environment,
                bypass=ask.gates,
                reason=ask.reason.strip(),
                ttl=seconds,
                drill=drill,
                requested_by=ask.actor,
                requested_at=now,
                needs_approval=spec.break_glass.approval,
            )
        )
        if not override.needs_approval:
            self._take_effect(override, now)
        self._announce(override, "requested")
        return override

    def drill(self, ask: Ask, spec: EnvironmentFile, probe: Callable[[], object] | None) -> Drill:
        """Rehearse an override: the same steps, timed, without effect. `probe` is what a
        gate would do with it (a policy decision; None: nothing runs to ask about). One that
        needs approval stops there: approving it finishes the drill."""
        began = self.clock()
        override = self.request(ask, spec, drill=True)
        drill = Drill(override, [Stage("recorded", self.clock() - began)])
        if override.needs_approval:
            return drill
        return self._finish(drill, probe, ask.actor)

    def _finish(self, drill: Drill, probe: Callable[[], object] | None, actor: str) -> Drill:
        began = self.clock()
        self.overrides.of(drill.override.environment)  # what every gate reads when it decides
        drill.stages.append(Stage("seen by the gates", self.clock() - began))
        if probe is not None:
            began = self.clock()
            probe()
            drill.stages.append(Stage("a gate's decision", self.clock() - began))
        began = self.clock()
        drill.override = self.revoke(drill.override.id, actor)
        drill.stages.append(Stage("ended", self.clock() - began))
        return drill

    def approve(
        self, override_id: int, actor: str, probe: Callable[[], object] | None = None
    ) -> Drill:
        """Approve a pending override: it takes effect now (a drill finishes instead). The
        stages: how long the approval took, and for a drill the rest of its steps."""
        override = self._get(override_id)
        if override.state(self.clock()) != OverrideState.PENDING:
            raise UserError(f"override #{override_id} is not waiting for approval "
                            f"({override.state(self.clock()).value})")  # fmt: skip
        if actor == override.requested_by:
            raise UserError(
                f"override #{override_id} needs a second person: {actor} asked for it",
                hint="another admin approves it",
            )
        override.approved_by = actor
        self._take_effect(override, self.clock())
        self._announce(override, f"approved by {actor}")
        assert override.effective_at is not None
        drill = Drill(override, [Stage("approval", override.effective_at - override.requested_at)])
        return self._finish(drill, probe, actor) if override.drill else drill

    def revoke(self, override_id: int, actor: str) -> Override:
        override = self._get(override_id)
        if override.state(self.clock()) in (OverrideState.REVOKED, OverrideState.EXPIRED):
            raise UserError(f"override #{override_id} is already over")
        override.revoked_by, override.revoked_at = actor, self.clock()
        self.overrides.save(override)
        self._announce(override, f"revoked by {actor}")
        return override

    def covering(self, environment: str, gate: Gate) -> Override | None:
        return self.overrides.covering(environment, gate, self.clock())

    def _take_effect(self, override: Override, now: float) -> None:
        override.effective_at, override.expires_at = now, now + override.ttl
        self.overrides.save(override)

    def _announce(self, override: Override, what: str) -> None:
        self.events.add_event(
            override.environment, f"break-glass {what}: {override.describe(self.clock())}", None
        )

    def _get(self, override_id: int) -> Override:
        found = self.overrides.get(override_id)
        if found is None:
            raise UserError(f"no override #{override_id}", where="ID")
        return found


def unless_bypassed(
    records: DeploymentRecords, environment: str, refusal: str, record: bool = True
) -> str | None:
    """`refusal` (the policies'), or None when an active override bypasses the policies of
    `environment`; a bypass is recorded in its events (unless `record` is False: a plan)."""
    now = time.time()
    override = OverrideRecords(records.store).covering(environment, Gate.POLICY, now)
    if override is None:
        return refusal
    if record:
        records.add_event(environment, f"{override.describe(now)} let through: {refusal}", None)
    return None

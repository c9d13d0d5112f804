"""The environment file: which app, where it runs, behind which router, rolled out how."""

from __future__ import annotations

import getpass
import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..common.names import NAME, checked_name
from ..workflow.yamlmodel import load_model

HINT = "see the README's Deploying section for the environment file format"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class HostSpec(_Strict):
    """One SSH host; user, port and base directory default to the target's."""

    address: str = Field(min_length=1)
    user: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    base_dir: str | None = Field(None, alias="base-dir")
    labels: dict[str, str] = {}  # region, zone: for region waves


class TargetSpec(_Strict):
    type: Literal["local", "ssh"] = "local"
    replicas: int = Field(3, ge=1, le=500)
    # ssh: instances spread over hosts (slot i on host i mod len(hosts))
    hosts: list[str | HostSpec] = []
    user: str | None = None  # default: the user running lockgate
    port: int = Field(22, ge=1, le=65535)
    identity_file: str | None = Field(None, alias="identity-file")
    known_hosts: str = Field("~/.ssh/known_hosts", alias="known-hosts")
    instances_per_host: int | None = Field(None, alias="instances-per-host", ge=1)
    base_dir: str = Field("lockgate", alias="base-dir")  # on each host; relative: to its home
    max_parallel_hosts: int = Field(10, alias="max-parallel-hosts", ge=1)
    connect_timeout: float | int = Field(10, alias="connect-timeout", gt=0)
    # a host lost during a rollout: roll the others back, or go on without it (degraded)
    on_host_failure: Literal["rollback", "fence"] = Field("rollback", alias="on-host-failure")

    @model_validator(mode="after")
    def _hosts(self) -> TargetSpec:
        if self.type == "ssh" and not self.hosts:
            raise ValueError("an ssh target needs `hosts`")
        if self.type == "local" and (self.hosts or self.instances_per_host):
            raise ValueError("`hosts` and `instances-per-host` are for `type: ssh`")
        if self.instances_per_host is not None:
            self.replicas = self.instances_per_host * len(self.hosts)
        return self

    def host_specs(self) -> list[HostSpec]:
        """Every host with its own user and port filled in."""
        user = self.user or getpass.getuser()
        found = [HostSpec(address=h) if isinstance(h, str) else h for h in self.hosts]
        return [
            HostSpec(
                address=h.address,
                user=h.user or user,
                port=h.port or self.port,
                base_dir=h.base_dir or self.base_dir,
                labels=h.labels,
            )
            for h in found
        ]


class RouterSpec(_Strict):
    type: Literal["builtin", "haproxy"] = "builtin"
    port: int = Field(8080, ge=1, le=65535)


class SmokeProbe(_Strict):
    path: str = "/"
    expect: int = 200


class MetricSpec(_Strict):
    """A built-in metric (error-rate, latency: from the router's samples) or a PromQL query
    compared between canary and baseline, or checked against success/failure conditions."""

    name: str
    query: str | None = None  # PromQL with $POOL; default: the built-in metric called `name`
    statistic: str = "mean"  # mean, or a percentile like p95
    tolerance: float | int = 0.0  # how much worse the canary may be before it fails
    relative: bool | None = None  # tolerance as a fraction of the baseline (default: latency)
    success: str | None = None  # e.g. `result < 0.05`: checked on the canary alone
    failure: str | None = None

    @field_validator("statistic")
    @classmethod
    def _statistic(cls, value: str) -> str:
        if value != "mean" and not (value.startswith("p") and value[1:].replace(".", "").isdigit()):
            raise ValueError(f"statistic must be mean or a percentile like p95, not {value!r}")
        return value

    @model_validator(mode="after")
    def _conditions_need_a_query(self) -> MetricSpec:
        if (self.success or self.failure) and self.query is None:
            raise ValueError(
                f"metric {self.name}: success and failure conditions need a `query`; the "
                "built-in metrics are compared between canary and baseline"
            )
        return self

    @field_validator("success", "failure")
    @classmethod
    def _condition(cls, value: str | None) -> str | None:
        if value is not None:
            from ..workflow.expressions import ExpressionError, parse

            try:
                parse(value, contexts=("result",))
            except ExpressionError as exc:
                raise ValueError(f"condition {value!r}: {exc.message}") from None
        return value


class AnalysisSpec(_Strict):
    interval: float | int = Field(5, gt=0)  # seconds per measurement
    count: int = Field(2, ge=1)  # measurements per analysis step
    confidence: float = Field(0.99, gt=0.5, lt=1)
    min_samples: int = Field(50, alias="min-samples", ge=1)
    pass_score: float | int = Field(95, alias="pass-score", ge=0, le=100)
    marginal_score: float | int = Field(75, alias="marginal-score", ge=0, le=100)
    on_inconclusive: Literal["pause", "fail"] = Field("pause", alias="on-inconclusive")
    # Argo's limits: failed / inconclusive measurements tolerated before the analysis stops
    failure_limit: int = Field(0, alias="failure-limit", ge=0)
    inconclusive_limit: int | None = Field(None, alias="inconclusive-limit", ge=0)
    background: bool = True  # also judge during pauses, and roll back at once on a failure
    provider: Literal["prometheus"] = "prometheus"  # where `query` metrics come from
    prometheus: str = "http://127.0.0.1:9090"
    metrics: list[MetricSpec] = [
        MetricSpec(name="error-rate", tolerance=0.02),
        MetricSpec(name="latency", statistic="p95", tolerance=0.25),
    ]


class Step(_Strict):
    """Exactly one of: set-weight (percent of traffic to the canary), pause (seconds, or
    `until-promoted`), analysis (run now and gate the next step)."""

    set_weight: int | None = Field(None, alias="set-weight", ge=0, le=100)
    pause: float | int | str | None = None
    analysis: dict[str, None] | None = None

    @model_validator(mode="after")
    def _one(self) -> Step:
        chosen = [k for k in ("set_weight", "pause", "analysis") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("a step is exactly one of set-weight, pause, analysis")
        if isinstance(self.pause, str) and self.pause != "until-promoted":
            raise ValueError("pause is a number of seconds or `until-promoted`")
        return self


class StrategySpec(_Strict):
    type: Literal["rolling", "blue-green", "canary"] = "rolling"
    max_surge: int | str = Field(1, alias="max-surge")
    max_unavailable: int | str = Field(0, alias="max-unavailable")
    progress_deadline: float | int = Field(300, alias="progress-deadline", gt=0)
    readiness_timeout: float | int = Field(30, alias="readiness-timeout", gt=0)
    # a new instance counts as available only after staying ready this long (its bake)
    min_ready_seconds: float | int = Field(0, alias="min-ready-seconds", ge=0)
    smoke: list[SmokeProbe] = []
    smoke_command: str | None = Field(None, alias="smoke-command")
    approval: bool = False
    scale_down_delay: float | int = Field(30, alias="scale-down-delay", ge=0)
    # canary
    steps: list[Step] = []
    preset: Literal["canary-10", "linear-10", "all-at-once"] | None = None
    interval: float | int = Field(60, gt=0)  # a preset's wait between steps, in seconds
    canary_replicas: int = Field(1, alias="canary-replicas", ge=1)
    analysis: AnalysisSpec = AnalysisSpec()

    def canary_steps(self) -> list[Step]:
        """The steps, or those of the preset (AWS CodeDeploy's canary, linear, all-at-once)."""
        if self.steps or self.preset is None:
            return self.steps
        wait = Step(pause=self.interval)
        if self.preset == "canary-10":
            return [Step.model_validate({"set-weight": 10}), wait]
        if self.preset == "linear-10":
            weights = [Step.model_validate({"set-weight": w}) for w in range(10, 100, 10)]
            return [s for weight in weights for s in (weight, wait)]
        return []

    @field_validator("max_surge", "max_unavailable")
    @classmethod
    def _count_or_percent(cls, value: int | str) -> int | str:
        if isinstance(value, int):
            if value < 0:
                raise ValueError("must be 0 or more")
            return value
        if not value.endswith("%") or not value[:-1].isdigit():
            raise ValueError(f"{value!r} is neither a count nor a percentage like 25%")
        return value


class ProvenanceSpec(_Strict):
    required: bool = False
    trusted_keys: list[str] = Field([], alias="trusted-keys")


class RegionSpec(_Strict):
    """Where the environment runs, as policies see it (`jurisdiction: eu`)."""

    name: str = "default"
    labels: dict[str, str] = {}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.fullmatch(value) or ".." in value:
            raise ValueError(f"{value!r} is not a region name: letters, digits, '.', '_', '-'")
        return value


class RegionDef(RegionSpec):
    """One region of a multi-region environment: its own fleet (target), router and labels,
    and its share of the traffic the global router takes."""

    target: TargetSpec = TargetSpec()
    router: RouterSpec = RouterSpec()
    strategy: StrategySpec | None = None  # default: the environment's
    weight: int = Field(100, ge=0, le=10_000)  # relative share of the global router's traffic


class WaveSpec(_Strict):
    """One step of a release: its regions are rolled out together, then bake while the
    analysis judges them against the regions outside the wave."""

    regions: list[str] = Field(min_length=1)
    # only this many of the region's instances (a canary inside it); a later wave finishes it
    instances: int | None = Field(None, ge=1)
    bake: float | int | str = 0  # seconds, or a duration such as 30m or 4h

    @field_validator("bake")
    @classmethod
    def _bake(cls, value: float | int | str) -> float | int | str:
        from ..workflow.project import parse_duration

        if parse_duration(value) < 0:
            raise ValueError("bake is 0 seconds or more")
        return value

    def bake_seconds(self) -> float:
        from ..workflow.project import parse_duration

        return parse_duration(self.bake)


class ReleaseSpec(_Strict):
    # a release asked for while another is in flight: it waits its turn, or replaces it
    on_newer: Literal["wait", "supersede"] = Field("wait", alias="on-newer")


class AuditLogSpec(_Strict):
    region: str  # where the environment's audit log is written: one of its regions
    # The region's labels, when it is not this environment's: lockgate fills them in for each
    # region of a multi-region environment, whose audit log is kept in one of them.
    labels: dict[str, str] | None = None


class BreakGlassSpec(_Strict):
    """`lockgate override`: whether a second person must approve, and the longest it lasts."""

    approval: bool = False
    max_ttl: float | int | str = Field("24h", alias="max-ttl")

    @field_validator("max_ttl")
    @classmethod
    def _ttl(cls, value: float | int | str) -> float | int | str:
        from ..workflow.project import parse_duration

        if parse_duration(value) <= 0:
            raise ValueError("max-ttl is more than 0 seconds")
        return value


class EnvironmentFile(_Strict):
    app: str
    environment: str | None = None
    labels: dict[str, str] = {}  # the environment's own (tier: production), for policies
    region: RegionSpec = RegionSpec()
    audit_log: AuditLogSpec | None = Field(None, alias="audit-log")
    break_glass: BreakGlassSpec = Field(BreakGlassSpec(), alias="break-glass")
    target: TargetSpec = TargetSpec()
    router: RouterSpec = RouterSpec()
    strategy: StrategySpec = StrategySpec()
    provenance: ProvenanceSpec = ProvenanceSpec()
    # A multi-region environment: its regions, the router in front of theirs, and the waves
    # a release goes through. Each region is run as an environment of its own (ENV.REGION).
    regions: list[RegionDef] = []
    global_router: RouterSpec | None = Field(None, alias="global-router")
    waves: list[WaveSpec] = []
    release: ReleaseSpec = ReleaseSpec()
    part_of: str | None = Field(None, alias="part-of")  # set on a region's own environment

    def region_names(self) -> list[str]:
        return [r.name for r in self.regions] if self.regions else [self.region.name]

    @model_validator(mode="after")
    def _known_regions(self) -> EnvironmentFile:
        names = self.region_names()
        log = self.audit_log
        if log is not None and log.labels is None and log.region not in names:
            raise ValueError(
                f"audit-log names region {log.region!r}, which is not one of the "
                f"environment's regions ({', '.join(names)})"
            )
        return self

    @model_validator(mode="after")
    def _regions(self) -> EnvironmentFile:
        if not self.regions:
            if self.waves or self.global_router:
                raise ValueError(
                    "`waves` and `global-router` are for an environment with `regions`"
                )
            return self
        alone = {"region", "target", "router"} & self.model_fields_set
        if alone:
            raise ValueError(
                f"with `regions`, each region has its own target and router; move "
                f"{', '.join(sorted(alone))} into the regions"
            )
        names = self.region_names()
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"region {twice[0]!r} is listed twice")
        if len(names) > 1 and self.global_router is None:
            raise ValueError(
                "an environment with several regions needs a `global-router: {port: N}` in "
                "front of theirs: it shares traffic between them and drains a failing one"
            )
        ports = [r.router.port for r in self.regions]
        ports += [self.global_router.port] if self.global_router else []
        if len(set(ports)) != len(ports):
            raise ValueError("each region's router and the global router need ports of their own")
        self._check_waves(names)
        return self

    def _check_waves(self, names: list[str]) -> None:
        reached: set[str] = set()
        partial: set[str] = set()
        for number, wave in enumerate(self.waves, 1):
            unknown = [n for n in wave.regions if n not in names]
            if unknown:
                raise ValueError(
                    f"wave {number} names region {unknown[0]!r}, which is not one of the "
                    f"environment's regions ({', '.join(names)})"
                )
            if wave.instances is not None:
                if len(wave.regions) != 1:
                    raise ValueError(f"wave {number}: `instances` is for a wave of one region")
                region = next(r for r in self.regions if r.name == wave.regions[0])
                if wave.instances >= region.target.replicas:
                    raise ValueError(
                        f"wave {number}: `instances` ({wave.instances}) must be fewer than "
                        f"region {region.name}'s {region.target.replicas} replicas"
                    )
                if region.name in reached | partial:
                    raise ValueError(f"wave {number}: region {region.name} was reached before")
                partial.add(region.name)
                continue
            again = [n for n in wave.regions if n in reached]
            if again:
                raise ValueError(
                    f"wave {number}: region {again[0]} was rolled out in a wave before"
                )
            reached |= set(wave.regions)
        if self.waves:
            left = [n for n in names if n not in reached]
            if left:
                raise ValueError(
                    f"region {left[0]!r} is in no wave (a region given only `instances` needs "
                    "a later wave that finishes it): a release would never reach it"
                )

    def wave_plan(self) -> list[WaveSpec]:
        """The waves, or one per region in the order listed."""
        return self.waves or [WaveSpec(regions=[n]) for n in self.region_names()]

    @model_validator(mode="after")
    def _progress_possible(self) -> EnvironmentFile:
        s, n = self.strategy, self.target.replicas
        if s.type == "rolling" and surge(s, n) == 0 and unavailable(s, n) == 0:
            raise ValueError("max-surge and max-unavailable cannot both be 0: nothing could move")
        return self


def _resolve(value: int | str, replicas: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    exact = replicas * int(value[:-1]) / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def surge(strategy: StrategySpec, replicas: int) -> int:
    return _resolve(strategy.max_surge, replicas, round_up=True)  # as Kubernetes rounds


def unavailable(strategy: StrategySpec, replicas: int) -> int:
    return min(replicas, _resolve(strategy.max_unavailable, replicas, round_up=False))


def load_environment(path: Path, name: str | None = None) -> tuple[str, EnvironmentFile]:
    """(environment name, its settings); the name defaults to `name`, else the file's stem."""
    spec = load_model(path, str(path), EnvironmentFile, HINT)
    chosen = spec.environment or name or path.stem
    return checked_name(chosen, "environment", f"{path}: environment"), spec

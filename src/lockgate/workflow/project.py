"""`lockgate.yml` at the repository root: what GitHub's workflow syntax has no place for.

Workflow files must stay valid on GitHub, which rejects unknown keys, so per-job cache inputs
and the cache's settings live here instead:

    cache:
      max-size: 2GiB                  # local cache bound; least recently used entries go first
      remote: http://cache:8080/lockgate   # Bazel HTTP remote cache (GET/PUT /ac/, /cas/)
      remote-timeout: 5               # seconds; a slower remote is a miss, never a failure
    jobs:
      lint:                           # a job id, in any workflow
        inputs: ["src/**", "pyproject.toml"]   # default: every file of the workspace
        outputs: ["dist/**"]          # workspace paths saved with the entry, restored on a hit
        env: ["PYTHON_VERSION"]       # host variables that belong in the key
        cache: false                  # never cache this job
        owner: "@team-web"            # who answers for this gate (insights gates)
        retry: 2                      # a step whose tests failed runs again (flaky evidence)
    tests:
      reports: ["build/reports/**/*.xml"]   # JUnit XML beyond the default locations
      budget: 10m                     # a run longer than this is flagged (insights slow)
      test-budget: 30s                # a test slower than this is a warning
      quarantine: {flake-rate: 0.2, owner: "@qa", days: 14}   # automatic, for proven flakes
      release-after: 10               # clean runs (on 3+ trees) before release is proposed
    gitops:                           # converge this checkout's environments to a config repo
      repository: https://git.example/deploy-config.git
      branch: main
      path: envs/                     # holds base.yaml and environments/ (docs/gitops.md)
      interval: 30s                   # between polls; a webhook or git hook syncs at once
    server:
      interrupted: report             # a run its dead server cut off: requeue (default) | report
      workflows:
        nightly.yml: {interrupted: requeue}   # one workflow's own choice
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .yamlmodel import load_model

FILE_NAME = "lockgate.yml"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str | int) -> int:
    """`2GiB`, `500MB`, `1048576` -> bytes (binary units either way)."""
    if isinstance(text, int):
        return text
    found = _SIZE.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a size; write it like 500MB or 2GiB")
    unit = (found.group(2) or "").upper()[:1]
    return int(float(found.group(1)) * _UNITS[unit])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class CacheSettings(_Strict):
    max_size: int | str = Field(2 << 30, alias="max-size")
    remote: str | None = None
    remote_timeout: float | int = Field(5.0, alias="remote-timeout")

    @field_validator("max_size")
    @classmethod
    def _size(cls, value: int | str) -> int:
        return parse_size(value)


class JobRules(_Strict):
    inputs: list[str] | None = None
    outputs: list[str] = []
    env: list[str] = []
    cache: bool | None = None  # default: cached unless the job names an `environment`
    owner: str | None = None  # who answers for this gate (default: CODEOWNERS of its workflow)
    retry: int = Field(0, ge=0, le=5)  # a run step whose tests failed runs again, this often


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}


def parse_duration(text: str | int | float) -> float:
    """`10m`, `30s`, `1.5h`, `90` (seconds) -> seconds."""
    if isinstance(text, int | float):
        return float(text)
    found = _DURATION.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a duration; write it like 30s, 10m or 1h")
    return float(found.group(1)) * _SECONDS[found.group(2)]


class QuarantinePolicy(_Strict):
    flake_rate: float = Field(alias="flake-rate", gt=0, le=1)  # at this rate or more
    owner: str = "policy"
    days: int = Field(14, ge=1, le=365)  # how long an automatic quarantine lasts


class TestSettings(_Strict):
    reports: list[str] = []
    quarantine: QuarantinePolicy | None = None  # automatic quarantine of proven flaky tests
    release_after: int = Field(10, alias="release-after", ge=1)  # clean runs to propose release
    budget: float | int | str = 600.0
    test_budget: float | int | str | None = Field(None, alias="test-budget")

    @field_validator("budget", "test_budget")
    @classmethod
    def _duration(cls, value: float | int | str | None) -> float | None:
        return None if value is None else parse_duration(value)


Interrupted = Literal["requeue", "report"]


class WorkflowServerSettings(_Strict):
    interrupted: Interrupted | None = None


class ServerSettings(_Strict):
    # what `lockgate serve` does with this repository's runs when a dead server cut them off
    interrupted: Interrupted | None = None  # None: the server's --interrupted
    workflows: dict[str, WorkflowServerSettings] = {}  # by workflow file name

    def interrupted_choices(self) -> dict[str, str]:
        """Workflow file name -> requeue | report, for those that chose."""
        return {n: w.interrupted for n, w in self.workflows.items() if w.interrupted is not None}


_BRANCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")


class GitopsSourceSettings(_Strict):
    """The config repository whose environments this checkout's agent converges to."""

    repository: str = Field(min_length=1)  # any URL git fetches (https, git, ssh, file) or path
    branch: str = "main"
    path: str = ""  # the folder holding base.yaml and environments/ (default: the root)
    interval: float | int | str = 30.0  # seconds between polls (a webhook syncs at once)

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if value.startswith("-") or any(c in value for c in "\n\r\0"):
            raise ValueError(f"{value!r} is not a repository URL")
        return value

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        if not _BRANCH.fullmatch(value) or ".." in value or value.endswith((".lock", "/")):
            raise ValueError(f"{value!r} is not a branch name")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        parts = [p for p in value.split("/") if p not in ("", ".")]
        if value.startswith("/") or ".." in parts or value.startswith("-"):
            raise ValueError(f"{value!r} must be a folder inside the repository, like deploy/")
        return "/".join(parts)

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float | int | str) -> float:
        seconds = parse_duration(value)
        if seconds < 1:
            raise ValueError("poll at most once a second")
        return seconds


class ProjectFile(_Strict):
    cache: CacheSettings = CacheSettings()
    jobs: dict[str, JobRules] = {}
    tests: TestSettings = TestSettings()
    server: ServerSettings = ServerSettings()
    gitops: GitopsSourceSettings | None = None


@dataclass(frozen=True)
class Project:
    """The settings in force: lockgate.yml's, or the defaults when there is none."""

    cache: CacheSettings = field(default_factory=CacheSettings)
    jobs: dict[str, JobRules] = field(default_factory=dict)
    tests: TestSettings = field(default_factory=TestSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    gitops: GitopsSourceSettings | None = None

    def rules(self, job_id: str) -> JobRules:
        return self.jobs.get(job_id) or JobRules()

    @property
    def max_size(self) -> int:
        return int(self.cache.max_size)


def load_project(repo_dir: Path) -> Project:
    path = repo_dir / FILE_NAME
    if not path.is_file():
        return Project()
    parsed = load_model(path, FILE_NAME, ProjectFile, "see `lockgate.yml` in the README")
    return Project(parsed.cache, parsed.jobs, parsed.tests, parsed.server, parsed.gitops)

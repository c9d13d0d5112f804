"""SQLAlchemy Core tables. Change them only together with a migration in migrations/versions."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow", String(255), nullable=False),
    Column("workflow_file", Text, nullable=False),
    Column("event", String(64), nullable=False),
    Column("sha", String(64), nullable=False),
    Column("ref", Text, nullable=False),
    Column("branch", Text, nullable=False),
    Column("dirty", Boolean, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("repo_dir", Text, nullable=False),
    Column("status", String(16), nullable=False),  # queued | running | completed | interrupted
    Column("conclusion", String(16)),  # success | failure | cancelled
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("pid", Integer),
    Column("host", String(255)),
    Column("trigger_id", Integer),  # the server's queued run that started it
    Column("commit_message", Text),  # the commit's subject line
    Column("commit_author", Text),  # "name <email>"
    Index("ix_runs_trigger", "trigger_id"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),  # job id plus matrix values: unique within a run
    Column("job_id", String(255), nullable=False),
    Column("name", Text, nullable=False),
    Column("matrix", JSON),
    Column("status", String(16), nullable=False),
    Column("conclusion", String(16)),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("outputs", JSON),
    Column("environment", Text),
    Column("message", Text),
    Column("summary", Text),
    Column("cache_key", String(64)),
    Column("cached_from", Integer),  # the run a cache hit restored this job from
    Column("needs", JSON),  # the keys of the jobs it waited for (the run page's graph)
    Column("environment_url", Text),  # `environment: {url}`, evaluated when the job ended
    Column("runner", String(255)),  # the worker that ran it (None: the server's machine)
    Index("ix_jobs_run", "run_id"),
)

steps = Table(
    "steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_row", Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("outcome", String(16)),
    Column("conclusion", String(16)),
    Column("exit_code", Integer),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("outputs", JSON),
    Index("ix_steps_job", "job_row"),
)

log_lines = Table(
    "log_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_row", Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("step", Integer, nullable=False),
    Column("ts", Float, nullable=False),
    Column("line", Text, nullable=False),
    Index("ix_log_job", "job_row"),
)

annotations = Table(
    "annotations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_row", Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("step", Integer, nullable=False),
    Column("level", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("file", Text),
    Column("line", Integer),
    Column("col", Integer),
    Column("title", Text),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("size", Integer, nullable=False),
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("app", String(255), nullable=False),
    Column("environment", String(255), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("previous_digest", String(64)),
    Column("source_commit", String(80)),
    Column("config_commit", String(64)),  # GitOps: the config repository's commit, and
    Column("config_author", String(255)),  # its author: who decided this deployment
    Column("strategy", String(32), nullable=False),
    Column("status", String(32), nullable=False),  # a deployments.RolloutStatus
    Column("phase", Text),  # what it is doing now, in words
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("triggered_by", String(255), nullable=False),
    Column("message", Text),
    Column("report", JSON),
    Column("kind", String(16), nullable=False),  # deploy | rollback
    # the reconciler's progress: step index, when it began, canary weight, last measurement
    Column("step", Integer, nullable=False, server_default="0"),
    Column("step_started_at", Float),
    Column("weight", Integer, nullable=False, server_default="0"),
    Column("weight_at", Float),  # when the weight was set: analysis windows start there
    Column("measured_at", Float),
    Column("promote", Boolean, nullable=False, server_default="0"),  # asked to go on
    Column("abort", Text),  # asked to stop, and why
    Column("failure", Text),  # why it is rolling back
    Column("divergent", JSON),  # instances that could not reach the digest
    Index("ix_deployments_env", "environment"),
)

instances = Table(
    "instances",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("environment", String(255), nullable=False),
    Column("slot", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("address", String(64)),
    Column("ref", String(128)),  # the target's reference to it (local: its process group)
    Column("state", String(16), nullable=False),  # a deployments.InstanceState
    Column("pool", String(32), nullable=False),
    Column("deployment_id", Integer),
    Column("reason", Text),
    Column("updated_at", Float, nullable=False),
    Column("launched_at", Float, nullable=False, server_default="0"),
    Column("ready", Boolean, nullable=False, server_default="0"),  # the last probe's answer
    Column("ready_since", Float),
    Column("probed_at", Float, nullable=False, server_default="0"),
    Column("restarts", Integer, nullable=False, server_default="0"),
    Column("retry_at", Float),  # when a crashed instance is started again (backoff)
    Column("stop_at", Float),  # when it left the router to stop
    Column("signaled_at", Float),  # when it was sent its stop signal
    Index("ix_instances_env", "environment", "state"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("environment", String(255), nullable=False),
    Column("deployment_id", Integer),
    Column("at", Float, nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_events_env", "environment", "id"),
)

analyses = Table(
    "analyses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("deployment_id", Integer, nullable=False),
    Column("step", Text, nullable=False),  # which step or pause it gated
    Column("measurement", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=False),
    Column("verdict", String(16), nullable=False),  # pass | fail | inconclusive
    Column("score", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("metrics", JSON, nullable=False),  # per metric: verdict, reason, U, p, effect
    Column("samples", JSON, nullable=False),  # per metric and side: the values compared
    Index("ix_analyses_deployment", "deployment_id"),
)

test_results = Table(
    "test_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("job_row", Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("job_id", String(255), nullable=False),
    Column("tree", String(64)),  # the job's input digest (its cache key): same tree, same code
    Column("test", Text, nullable=False),  # suite::name
    Column("file", Text),
    Column("outcome", String(16), nullable=False),  # passed | failed | error | skipped
    Column("duration", Float, nullable=False),
    Column("retries", Integer, nullable=False),
    Column("quarantined", Boolean, nullable=False),  # its failure did not fail the job
    Column("message", Text),  # masked like logs
    Column("at", Float, nullable=False),
    Index("ix_test_results_test", "test", "id"),
    Index("ix_test_results_run", "run_id"),
)

quarantines = Table(
    "quarantines",
    metadata,
    Column("test", Text, primary_key=True),
    Column("owner", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("since", Float, nullable=False),
    Column("until", Float),  # it expires then (None: until released)
    Column("by", String(255), nullable=False),  # who quarantined it, or "policy"
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("environment", String(255), nullable=False),
    Column("title", Text, nullable=False),
    Column("opened_at", Float, nullable=False),
    Column("resolved_at", Float),
    Column("deployment_id", Integer),  # the deployment live when it opened
)

queue = Table(
    "queue",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery", String(255), nullable=False, unique=True),  # a redelivery is a no-op
    Column("source", String(16), nullable=False),  # github | gitea | gitlab | git | manual
    Column("event", String(64), nullable=False),
    Column("repository", Text, nullable=False),  # where the worker fetches the code from
    Column("ref", Text, nullable=False),
    Column("before", String(64)),
    Column("after", String(64), nullable=False),
    Column("payload", JSON, nullable=False),  # the event, as the run's github.event
    Column("status", String(16), nullable=False),  # queued | running | done | interrupted
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("worker", String(255)),  # host:pid of the process running it
    Column("lease_until", Float),  # its server renews this while it runs; past: taken over
    Column("exit_code", Integer),
    Column("message", Text),
    Column("cancel", Boolean, nullable=False, server_default="0"),  # an operator asked
    Column("on_interrupt", JSON),  # an InterruptPolicy: the repository's lockgate.yml
    Column("workflow", Text),  # run only this workflow file (a schedule's, a rerun's)
    Column("plan", JSON),  # engine.plan.Plan.as_json() of its commit, once fetched
    Column("jobs", JSON),  # run only these jobs (and what they need): a rerun of some
    Column("continues", Integer),  # the run whose held jobs this one goes on with
    Column("clearances", JSON),  # environment -> {approved_by, waited}: what it was cleared for
    Column("not_before", Float),  # it may not start before (an environment's wait timer)
    Index("ix_queue_status", "status", "id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("role", String(16), nullable=False),  # viewer | operator | admin
    Column("digest", String(64), nullable=False, unique=True),  # sha256 of the token
    Column("created_at", Float, nullable=False),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(255), nullable=False),  # a token's name, or the forge that sent it
    Column("action", String(64), nullable=False),
    Column("target", Text, nullable=False),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repository", Text, nullable=False),
    Column("ref", Text, nullable=False),  # the default branch, whose latest commit runs
    Column("workflow_file", Text, nullable=False),
    Column("cron", String(255), nullable=False),
    Column("next_at", Float, nullable=False),  # when it fires next (UTC epoch seconds)
    UniqueConstraint("repository", "workflow_file", "cron", name="uq_schedule"),
)


# GitOps: a watched config repository's last fetch, and each environment it defines
gitops_sources = Table(
    "gitops_sources",
    metadata,
    Column("source", Text, primary_key=True),  # url#branch:path
    Column("commit", String(64)),
    Column("author", String(255)),
    Column("fetched_at", Float),
    Column("checked_at", Float, nullable=False),
    Column("error", Text),  # the fetch failed: why
    Column("invalid", Text),  # the commit is invalid: file:line:col and what
)

gitops_environments = Table(
    "gitops_environments",
    metadata,
    Column("environment", String(255), primary_key=True),
    Column("source", Text, nullable=False),
    Column("commit", String(64), nullable=False),  # the config commit its desired state is from
    Column("applied_commit", String(64)),
    Column("digest", String(64), nullable=False),
    Column("document", JSON, nullable=False),  # the merged environment document
    Column("sync", String(32), nullable=False),  # a gitops SyncStatus
    Column("health", String(32)),
    Column("message", Text),
    Column("differences", JSON),
    Column("in_git", Boolean, nullable=False, server_default="1"),
    Column("failed_commit", String(64)),  # its rollout failed: not retried in a loop
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("retry_at", Float),
    Column("checked_at", Float, nullable=False),
)

overrides = Table(
    "overrides",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("environment", String(255), nullable=False, index=True),
    Column("bypass", JSON, nullable=False),  # the gates: policy, window, analysis
    Column("reason", Text, nullable=False),
    Column("ttl", Float, nullable=False),  # seconds from when it takes effect
    Column("drill", Boolean, nullable=False),  # a rehearsal: never takes effect
    Column("requested_by", String(255), nullable=False),
    Column("requested_at", Float, nullable=False),
    Column("needs_approval", Boolean, nullable=False),
    Column("approved_by", String(255)),
    Column("effective_at", Float),
    Column("expires_at", Float),
    Column("revoked_by", String(255)),
    Column("revoked_at", Float),
)

# Feature flags: a name is never used twice (an archived flag stays, as its tombstone)
flags = Table(
    "flags",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("kind", String(32), nullable=False),  # release | experiment | operational | permission
    Column("description", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("archived_at", Float),
    Column("archived_by", String(255)),
    Column("archive_reason", Text),
)

flag_states = Table(
    "flag_states",
    metadata,
    Column("flag", String(255), ForeignKey("flags.name"), primary_key=True),
    Column("environment", String(255), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("strategies", JSON, nullable=False),  # Unleash's client API shape
    Column("variants", JSON, nullable=False),
    Column("changed_at", Float, nullable=False),
)

flag_changes = Table(
    "flag_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # also the flags' revision
    Column("flag", String(255), nullable=False, index=True),
    Column("environment", String(255)),  # none: the flag itself (created, archived)
    Column("at", Float, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("summary", Text, nullable=False),
    Column("before", JSON),
    Column("after", JSON),
)

# A flag rolled out in steps, each judged like a canary (lockgate.flags.guard)
flag_rollouts = Table(
    "flag_rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flag", String(255), ForeignKey("flags.name"), nullable=False),
    Column("environment", String(255), nullable=False),
    Column("spec", JSON, nullable=False),  # steps, bake, window, analysis
    Column("state", String(16), nullable=False),  # running | rolling-back | rolled-back | ...
    Column("step", Integer, nullable=False),  # index into the spec's steps
    Column("applied", Boolean, nullable=False),  # the step's percentage is in the flag
    Column("reason", Text, nullable=False),
    Column("started_by", String(255), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("step_started_at", Float),
    Column("measured_at", Float),
    Column("finished_at", Float),
    Index("ix_flag_rollouts_flag", "flag", "environment"),
)

# What SDKs saw of requests under a guarded rollout: which side of the flag, how it went
flag_observations = Table(
    "flag_observations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flag", String(255), nullable=False),
    Column("environment", String(255), nullable=False),
    Column("side", String(255), nullable=False),  # off, on, or the variant's name
    Column("at", Float, nullable=False),  # the server's clock
    Column("latency", Float),
    Column("failed", Boolean, nullable=False),
    Index("ix_flag_observations_at", "flag", "environment", "at"),
)

flag_analyses = Table(
    "flag_analyses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rollout_id", Integer, nullable=False, index=True),
    Column("step", Text, nullable=False),
    Column("measurement", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("score", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("samples", JSON, nullable=False),
)

# Constraints several flags' strategies share, named; strategies refer to them by id
flag_segments = Table(
    "flag_segments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("constraints", JSON, nullable=False),  # Unleash's constraint shape
    Column("changed_at", Float, nullable=False),
)

# What a flags file (the config repository's flags.yaml, `lockgate flags apply`) last applied
# to each flag and environment: a later difference is a change by hand (drift)
flag_sync = Table(
    "flag_sync",
    metadata,
    Column("source", String(1024), primary_key=True),
    Column("flag", String(255), primary_key=True),
    Column("environment", String(255), primary_key=True),
    Column("digest", String(64), nullable=False),  # lockgate.flags.desired: the state's digest
    Column("revision", String(255), nullable=False),  # the commit (or file) it came from
    Column("applied_at", Float, nullable=False),
)

# The repositories a server runs: anything else is refused (lockgate.store.repositories)
repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("source", String(1024), nullable=False, unique=True),  # normalised: a path or URL
    Column("forge", String(16), nullable=False),  # git | github | gitea | gitlab
    Column("full_name", String(255)),  # owner/name on a forge: what its webhooks say
    Column("has_secret", Boolean, nullable=False),  # a webhook secret of its own (a 0600 file)
    Column("created_at", Float, nullable=False),
    Column("created_by", String(255), nullable=False),
)

protections = Table(
    "protections",
    metadata,
    Column("environment", String(255), primary_key=True),
    Column("reviewers", JSON, nullable=False),  # any one of them approves
    Column("wait_seconds", Integer, nullable=False),
    Column("branches", JSON, nullable=False),  # patterns of the refs that may deploy; [] all
    Column("vars", JSON, nullable=False),  # its jobs' `vars`; its secrets are a 0600 file
    Column("has_secrets", Boolean, nullable=False),
    Column("changed_by", String(255), nullable=False),
    Column("changed_at", Float, nullable=False),
)

reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("environment", String(255), nullable=False),
    Column("jobs", JSON, nullable=False),  # the job ids held for it
    Column("reviewers", JSON, nullable=False),  # who may approve ([] : its timer alone)
    Column("wait_seconds", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # waiting | approved | rejected
    Column("requested_at", Float, nullable=False),
    Column("decided_by", String(255)),
    Column("decided_at", Float),
    Column("comment", Text),
    Column("continued_as", Integer),  # the queued run that goes on with its jobs
    Index("ix_reviews_run", "run_id"),
)

merge_queue = Table(
    "merge_queue",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repository", Text, nullable=False),  # a registered repository, as registered
    Column("branch", String(255), nullable=False),  # the change: a branch, or a pull request's
    Column("pull", Integer),  # the pull request's number, on a forge
    Column("target", String(255), nullable=False),  # the protected branch it goes into
    Column("head", String(64), nullable=False),  # the branch's commit when it was added
    Column("state", String(16), nullable=False),  # queued | testing | passed | merged | failed
    Column("base", String(64)),  # what it was merged onto: the target, or the one ahead
    Column("candidate", String(64)),  # that merge commit, the one tested
    Column("queued_run", Integer),  # the queued run testing it
    Column("reason", Text),  # why it left the queue unmerged
    Column("added_by", String(255), nullable=False),
    Column("added_at", Float, nullable=False),
    Column("finished_at", Float),
    Index("ix_merge_queue_lane", "repository", "target", "state"),
)

# Runners on other machines (`lockgate worker`): each connects out with a worker token (its
# name is the token's) and says it is alive; an assignment is one job handed to one of them.
workers = Table(
    "workers",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("labels", JSON, nullable=False),  # what its jobs' runs-on may ask for
    Column("concurrency", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("state", String(16), nullable=False),  # idle | busy | draining | stopped
    Column("drain", Boolean, nullable=False),  # asked to finish its jobs and take no more
    Column("started_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("address", String(64)),  # the IP address its heartbeats come from
)

job_assignments = Table(
    "job_assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("job_row", Integer, nullable=False),
    Column("labels", JSON, nullable=False),  # the job's runs-on, as a worker must have them
    Column("queue", String(255), nullable=False),  # the broker queue it was sent to
    Column("payload", Text, nullable=False),  # runners.payload.JobPayload, without secrets
    Column("sealed_secrets", LargeBinary),  # the secrets it uses, encrypted; None once it ends
    Column("server_dir", Text, nullable=False),  # the run's state directory on the server
    Column("state", String(16), nullable=False),  # queued | running | done | cancelled | lost
    Column(
        "attempt", Integer, nullable=False
    ),  # 1, then 2... when a lost worker's job is sent again
    Column("worker", String(255)),
    Column("cancel", Boolean, nullable=False),  # asked to stop: the worker's next beat sees it
    Column("created_at", Float, nullable=False),
    Column("claimed_at", Float),
    Column("beat_at", Float),  # the worker's last word on it
    Column("finished_at", Float),
    Column("message", Text),
    Column("artifacts", JSON, nullable=False),  # names of the artifacts the job uploaded
    Index("ix_job_assignments_state", "state"),
    Index("ix_job_assignments_job", "job_row"),
)

# `concurrency:` groups (store/concurrency.py): shared by every run writing to the store
concurrency_groups = Table(
    "concurrency_groups",
    metadata,
    Column("key", String(64), primary_key=True),  # sha256 of the group's name
    Column("name", Text, nullable=False),
    Column("holder", String(64)),  # the entry in progress (a token)
    Column("holder_host", String(255)),
    Column("holder_pid", Integer),
    Column("holder_until", Float),  # its lease
    Column("pending", String(64)),  # the entry waiting
    Column("cancel", String(64)),  # the holder asked to stop (cancel-in-progress)
)

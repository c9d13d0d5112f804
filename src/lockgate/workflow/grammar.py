"""The shape of a workflow file, as GitHub's workflow parser defines it.

Each definition is a set of alternative forms (a scalar kind, a sequence, a mapping) plus the
expression contexts allowed inside it. The reader (reader.py) walks a file against these.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ScalarForm:
    kind: str  # "null" | "boolean" | "number" | "string"
    constant: str | None = None
    non_empty: bool = False


@dataclass(frozen=True)
class SeqForm:
    item: str


@dataclass(frozen=True)
class Prop:
    type: str
    required: bool = False


@dataclass(frozen=True)
class MapForm:
    properties: Mapping[str, Prop] = field(default_factory=dict)
    loose_key: str | None = None
    loose_value: str | None = None


Form = ScalarForm | SeqForm | MapForm


@dataclass(frozen=True)
class Definition:
    forms: tuple[Form | str, ...]  # a str names another definition (one-of)
    context: tuple[str, ...] = ()


DEFS: dict[str, Definition] = {}


def define(name: str, *forms: Form | str, context: tuple[str, ...] = ()) -> None:
    DEFS[name] = Definition(tuple(forms), context)


def props(**kinds: str | Prop) -> dict[str, Prop]:
    """Property names are written with '_' for '-' (but event names keep their '_')."""
    return {k.replace("_", "-"): v if isinstance(v, Prop) else Prop(v) for k, v in kinds.items()}


def required(type_: str) -> Prop:
    return Prop(type_, required=True)


STRING = ScalarForm("string")
NON_EMPTY = ScalarForm("string", non_empty=True)

# -- basic types ----------------------------------------------------------------------------
define("null", ScalarForm("null"))
define("boolean", ScalarForm("boolean"))
define("number", ScalarForm("number"))
define("string", STRING)
define("non-empty-string", NON_EMPTY)
define("sequence", SeqForm("any"))
define("mapping", MapForm(loose_key="string", loose_value="any"))
define("any", "null", "boolean", "number", "string", "sequence", "mapping")
define("sequence-of-non-empty-string", SeqForm("non-empty-string"))
define("sequence-of-string", SeqForm("string"))
define("string-or-strings", "non-empty-string", "sequence-of-non-empty-string")

# -- contexts ---------------------------------------------------------------------------------
WORKFLOW = ("github", "inputs", "vars")
NEEDS = (*WORKFLOW, "needs")
STRATEGY = (*NEEDS, "strategy", "matrix")
RUNNER = (*STRATEGY, "secrets", "steps", "job", "runner", "env")
STEPS = (*RUNNER, "hashFiles(1,255)")
JOB_IF = (*NEEDS, "always(0,0)", "failure(0,MAX)", "cancelled(0,0)", "success(0,MAX)")
STEP_IF = (
    *STRATEGY,
    "steps",
    "job",
    "runner",
    "env",
    "always(0,0)",
    "failure(0,0)",
    "cancelled(0,0)",
    "success(0,0)",
    "hashFiles(1,255)",
)

# -- on: --------------------------------------------------------------------------------------
# github.com accepts any of these filters on any event (`create: {tags: ...}`, `types` it does not
# know) and ignores what does not apply; an unknown key is still an error.
EVENT_FILTERS = (
    "branches",
    "branches-ignore",
    "tags",
    "tags-ignore",
    "paths",
    "paths-ignore",
    "types",
    "workflows",
    "names",
    "versions",
)
EVENTS = sorted(
    [
        "branch_protection_rule",
        "check_run",
        "check_suite",
        "create",
        "delete",
        "deployment",
        "deployment_status",
        "discussion",
        "discussion_comment",
        "fork",
        "gollum",
        "image_version",
        "issue_comment",
        "issues",
        "label",
        "merge_group",
        "milestone",
        "page_build",
        "project",
        "project_card",
        "project_column",
        "public",
        "pull_request",
        "pull_request_comment",
        "pull_request_review",
        "pull_request_review_comment",
        "pull_request_target",
        "push",
        "registry_package",
        "release",
        "repository_dispatch",
        "schedule",
        "status",
        "watch",
        "workflow_call",
        "workflow_dispatch",
        "workflow_run",
    ]
)
define("event-filters", MapForm({name: Prop("string-or-strings") for name in EVENT_FILTERS}))
for _event in EVENTS:
    define(f"event-{_event}-string", ScalarForm("string", constant=_event))
    if _event not in ("schedule", "workflow_call", "workflow_dispatch"):
        define(f"event-{_event}", "null", "event-filters")

define("event-schedule", SeqForm("cron-mapping"))
define("cron-mapping", MapForm(props(cron=required("non-empty-string"), timezone="string")))

define("input-type-string", ScalarForm("string", constant="string"))
define("input-type-boolean", ScalarForm("string", constant="boolean"))
define("input-type-number", ScalarForm("string", constant="number"))
define("scalar-default", "string", "boolean", "number")

define("call-input-type", "input-type-string", "input-type-boolean", "input-type-number")
define("call-input-default", "string", "boolean", "number", context=WORKFLOW)
define(
    "call-input",
    MapForm(
        props(
            description="string",
            type=required("call-input-type"),
            required="boolean",
            default="call-input-default",
        )
    ),
)
define("call-inputs", MapForm(loose_key="non-empty-string", loose_value="call-input"))
define("call-secret-mapping", MapForm(props(description="string", required="boolean")))
define("call-secret", "null", "call-secret-mapping")
define("call-secrets", MapForm(loose_key="non-empty-string", loose_value="call-secret"))
define("call-output-value", STRING, context=(*WORKFLOW, "jobs"))
define("call-output", MapForm(props(description="string", value=required("call-output-value"))))
define("call-outputs", MapForm(loose_key="non-empty-string", loose_value="call-output"))
define(
    "event-workflow_call-mapping",
    MapForm(props(inputs="call-inputs", secrets="call-secrets", outputs="call-outputs")),
)
define("event-workflow_call", "null", "event-workflow_call-mapping")

define(
    "dispatch-input",
    MapForm(
        props(
            description="string",
            type="string",  # github.com runs unknown types (`int`) as strings
            required="boolean",
            default="scalar-default",
            options="sequence-of-string",
        )
    ),
)
define("dispatch-input-or-null", "null", "dispatch-input")
define(
    "dispatch-inputs-mapping",
    MapForm(loose_key="non-empty-string", loose_value="dispatch-input-or-null"),
)
define("dispatch-inputs", "null", "dispatch-inputs-mapping")
# GitHub ignores unknown keys here (and only here).
define(
    "event-workflow_dispatch-mapping",
    MapForm(props(inputs="dispatch-inputs"), loose_key="non-empty-string", loose_value="any"),
)
define("event-workflow_dispatch", "null", "event-workflow_dispatch-mapping")

define("on-string", *(f"event-{e}-string" for e in EVENTS))
define("on-sequence", SeqForm("on-string"))
define("on-mapping", MapForm({e: Prop(f"event-{e}") for e in EVENTS}))
define("on", "on-string", "on-sequence", "on-mapping")

# -- permissions ------------------------------------------------------------------------------
define("perm-read", ScalarForm("string", constant="read"))
define("perm-write", ScalarForm("string", constant="write"))
define("perm-none", ScalarForm("string", constant="none"))
define("perm-any", "perm-read", "perm-write", "perm-none")
define("perm-read-or-none", "perm-read", "perm-none")
define("perm-write-or-none", "perm-write", "perm-none")
PERMISSION_SCOPES = {
    "actions": "perm-any",
    "artifact-metadata": "perm-any",
    "attestations": "perm-any",
    "checks": "perm-any",
    "code-quality": "perm-any",
    "contents": "perm-any",
    "copilot-requests": "perm-write-or-none",
    "deployments": "perm-any",
    "discussions": "perm-any",
    "drives": "perm-any",
    "id-token": "perm-write-or-none",
    "issues": "perm-any",
    "models": "perm-read-or-none",
    "packages": "perm-any",
    "pages": "perm-any",
    "pull-requests": "perm-any",
    "repository-projects": "perm-any",
    "security-events": "perm-any",
    "statuses": "perm-any",
    "vulnerability-alerts": "perm-read-or-none",
}
define("permissions-mapping", MapForm({k: Prop(v) for k, v in PERMISSION_SCOPES.items()}))
define("perm-read-all", ScalarForm("string", constant="read-all"))
define("perm-write-all", ScalarForm("string", constant="write-all"))
define("permissions", "permissions-mapping", "perm-read-all", "perm-write-all")

# -- workflow level ---------------------------------------------------------------------------
define("shell", NON_EMPTY)
define("defaults-run", MapForm(props(shell="shell", working_directory="non-empty-string")))
define("workflow-defaults", MapForm(props(run="defaults-run")))
define(
    "workflow-env",
    MapForm(loose_key="non-empty-string", loose_value="string"),
    context=(*WORKFLOW, "secrets"),
)
define(
    "concurrency-mapping",
    MapForm(
        props(
            group=required("non-empty-string"),
            cancel_in_progress="boolean",
            queue="concurrency-queue",
        )
    ),
)
define("concurrency-queue-single", ScalarForm("string", constant="single"))
define("concurrency-queue-max", ScalarForm("string", constant="max"))
define("concurrency-queue", "concurrency-queue-single", "concurrency-queue-max")
define("workflow-concurrency", "string", "concurrency-mapping", context=WORKFLOW)
define("run-name", STRING, context=WORKFLOW)

# -- jobs -------------------------------------------------------------------------------------
define("needs", "sequence-of-non-empty-string", "non-empty-string")
define("job-if", STRING, context=JOB_IF)
define("matrix-filter-item", MapForm(loose_key="non-empty-string", loose_value="any"))
define("matrix-filter", SeqForm("matrix-filter-item"))
define(
    "matrix",
    MapForm(
        props(include="matrix-filter", exclude="matrix-filter"),
        loose_key="non-empty-string",
        loose_value="sequence",
    ),
)
define(
    "strategy",
    MapForm(props(fail_fast="boolean", max_parallel="number", matrix="matrix")),
    context=NEEDS,
)
define("runs-on-mapping", MapForm(props(group="non-empty-string", labels="string-or-strings")))
define(
    "runs-on",
    "non-empty-string",
    "sequence-of-non-empty-string",
    "runs-on-mapping",
    context=STRATEGY,
)
define(
    "job-env",
    MapForm(loose_key="non-empty-string", loose_value="string"),
    context=(*STRATEGY, "secrets"),
)
define("job-concurrency", "non-empty-string", "concurrency-mapping", context=STRATEGY)
define("environment-name", STRING, context=STRATEGY)
define("environment-url", STRING, context=tuple(c for c in RUNNER if c != "secrets"))
define(
    "environment-mapping",
    MapForm(props(name=required("environment-name"), url="environment-url", deployment="boolean")),
)
define("job-environment", "string", "environment-mapping", context=STRATEGY)
define(
    "job-defaults-run",
    MapForm(props(shell="shell", working_directory="non-empty-string")),
    context=(*STRATEGY, "env"),
)
define("job-defaults", MapForm(props(run="job-defaults-run")))
define("runner-string", STRING, context=RUNNER)
define("job-outputs", MapForm(loose_key="non-empty-string", loose_value="runner-string"))
define("boolean-strategy", ScalarForm("boolean"), context=STRATEGY)
define("number-strategy", ScalarForm("number"), context=STRATEGY)
define("string-strategy", STRING, context=STRATEGY)
define(
    "credentials",
    MapForm(props(username="non-empty-string", password="non-empty-string")),
    context=(*WORKFLOW, "secrets", "env"),
)
define("container-env", MapForm(loose_key="non-empty-string", loose_value="runner-string"))
_CONTAINER = props(
    image="non-empty-string",
    options="string",
    env="container-env",
    ports="sequence-of-non-empty-string",
    volumes="sequence-of-non-empty-string",
    credentials="credentials",
)
define("container-mapping", MapForm(_CONTAINER))
define("container", "string", "container-mapping", context=STRATEGY)
define("service-mapping", MapForm({**_CONTAINER, **props(entrypoint="string", command="string")}))
define("service", "non-empty-string", "service-mapping", context=STRATEGY)
define("services", MapForm(loose_key="non-empty-string", loose_value="service"), context=STRATEGY)
define("snapshot-if", STRING, context=STRATEGY)
define(
    "snapshot-mapping",
    MapForm(
        props(image_name=required("non-empty-string"), version="non-empty-string")
        | {"if": Prop("snapshot-if")}
    ),
)
define("snapshot", "non-empty-string", "snapshot-mapping")

# -- steps ------------------------------------------------------------------------------------
define("step-string", STRING, context=STEPS)
define("step-boolean", ScalarForm("boolean"), context=STEPS)
define("step-number", ScalarForm("number"), context=STEPS)
define("step-if", STRING, context=STEP_IF)
define("step-env", MapForm(loose_key="non-empty-string", loose_value="string"), context=STEPS)
define("step-with", MapForm(loose_key="non-empty-string", loose_value="string"), context=STEPS)
_STEP_COMMON = {
    "name": Prop("step-string"),
    "id": Prop("non-empty-string"),
    "if": Prop("step-if"),
    "timeout-minutes": Prop("step-number"),
    "continue-on-error": Prop("step-boolean"),
    "env": Prop("step-env"),
    "background": Prop("boolean"),
}
define(
    "run-step",
    MapForm(
        {
            **_STEP_COMMON,
            "run": required("step-string"),
            "working-directory": Prop("step-string"),
            "shell": Prop("shell"),
        }
    ),
)
define(
    "uses-step",
    MapForm({**_STEP_COMMON, "uses": required("non-empty-string"), "with": Prop("step-with")}),
)
# Background steps are an experiment GitHub enables per workflow (Limits.background_steps).
BACKGROUND_ONLY = frozenset({"wait", "wait-all", "cancel"})
BACKGROUND = BACKGROUND_ONLY | {"background"}
_SYNC = {
    "name": Prop("step-string"),
    "id": Prop("non-empty-string"),
    "continue-on-error": Prop("step-boolean"),
}
define("wait-step", MapForm({**_SYNC, "wait": required("string-or-strings")}))
define("wait-all-value", "null", "boolean")
define("wait-all-step", MapForm({**_SYNC, "wait-all": required("wait-all-value")}))
define("cancel-step", MapForm({**_SYNC, "cancel": required("non-empty-string")}))
define("parallel-step", MapForm({"parallel": required("steps")}))
define(
    "steps-item",
    "run-step",
    "uses-step",
    "wait-step",
    "wait-all-step",
    "cancel-step",
    "parallel-step",
)
define("steps", SeqForm("steps-item"))

define(
    "job-factory",
    MapForm(
        {
            **props(
                needs="needs",
                strategy="strategy",
                name="string-strategy",
                runs_on=required("runs-on"),
                timeout_minutes="number-strategy",
                cancel_timeout_minutes="number-strategy",
                continue_on_error="boolean-strategy",
                container="container",
                services="services",
                env="job-env",
                environment="job-environment",
                permissions="permissions",
                concurrency="job-concurrency",
                outputs="job-outputs",
                defaults="job-defaults",
                steps="steps",
                snapshot="snapshot",
            ),
            "if": Prop("job-if"),
        }
    ),
)
define("with-value", "string", "boolean", "number", context=STRATEGY)
define("secret-value", "string", "boolean", "number", context=(*STRATEGY, "secrets"))
define("job-with", MapForm(loose_key="non-empty-string", loose_value="with-value"))
define("job-secrets-mapping", MapForm(loose_key="non-empty-string", loose_value="secret-value"))
define("job-secrets-inherit", ScalarForm("string", constant="inherit"))
define("job-secrets", "job-secrets-mapping", "job-secrets-inherit")
define(
    "workflow-job",
    MapForm(
        {
            **props(
                name="string-strategy",
                uses=required("non-empty-string"),
                secrets="job-secrets",
                needs="needs",
                permissions="permissions",
                concurrency="job-concurrency",
                strategy="strategy",
            ),
            "with": Prop("job-with"),
            "if": Prop("job-if"),
        }
    ),
)
define("job", "job-factory", "workflow-job")
define("jobs", MapForm(loose_key="non-empty-string", loose_value="job"))

define(
    "workflow-root",
    MapForm(
        props(
            on=required("on"),
            name="string",
            description="string",
            run_name="run-name",
            defaults="workflow-defaults",
            env="workflow-env",
            permissions="permissions",
            concurrency="workflow-concurrency",
            jobs=required("jobs"),
        )
    ),
)


@functools.cache
def forms(name: str) -> tuple[Form, ...]:
    """The concrete forms a definition allows, with one-of references flattened (the grammar
    is fixed once imported, so each definition is flattened once, not per token read)."""
    found: list[Form] = []
    for form in DEFS[name].forms:
        found.extend(forms(form) if isinstance(form, str) else [form])
    return tuple(found)

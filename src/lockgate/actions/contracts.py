"""What each built-in action stands in for: the inputs and outputs of the real action's
action.yml, input by input, and what lockgate does with each.

A step is told, as GitHub's runner tells it, when it gives an input the action does not have
(a warning), and when it gives one lockgate ignores a value other than the default (a notice
saying why). `lockgate actions` prints these tables; docs/builtin-actions.md is its output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Input:
    default: str | None = None
    ignored: str = ""  # why lockgate does not act on it; "" when it does
    note: str = ""  # how lockgate honours it, where that differs from GitHub's runner


@dataclass(frozen=True)
class Contract:
    action: str
    version: str  # the release whose action.yml this follows
    inputs: dict[str, Input]
    outputs: dict[str, str] = field(default_factory=dict)  # name -> "" when set, else why not


ON_GITHUB_COM = "${{ github.server_url == 'https://github.com' && github.token || '' }}"
NO_DOWNLOAD = "not needed: lockgate downloads nothing from GitHub"
NOT_FETCHED = "not needed: nothing is fetched"
ONE_MACHINE = "jobs run on this machine's own architecture"
SHARED_TOOL_CACHE = "the package manager's cache in lockgate's tool cache is shared by every job"

NO_SUBMODULES = "submodules are not copied into the workspace (run in place with --bind)"
CHECKOUT = Contract(
    "actions/checkout",
    "v7.0.1",
    {
        "repository": Input(
            "${{ github.repository }}",
            note="the run's own repository only; another one is an error naming it",
        ),
        "ref": Input(note="any commit, branch or tag of the repository's history"),
        "token": Input("${{ github.token }}", note=NOT_FETCHED),
        "ssh-key": Input(note=NOT_FETCHED),
        "ssh-known-hosts": Input(note=NOT_FETCHED),
        "ssh-strict": Input("true", note=NOT_FETCHED),
        "ssh-user": Input("git", note=NOT_FETCHED),
        "persist-credentials": Input("true", note="no credentials are ever written into it"),
        "path": Input(),
        "clean": Input("true", note="the workspace is always fresh"),
        "filter": Input(ignored="the checkout shares the repository's objects; nothing to filter"),
        "sparse-checkout": Input(ignored="the whole tree is checked out"),
        "sparse-checkout-cone-mode": Input("true", ignored="the whole tree is checked out"),
        "fetch-depth": Input("1", note="the whole history is always there (shared, not copied)"),
        "fetch-tags": Input("false", note="tags are always there"),
        "show-progress": Input("true", note=NOT_FETCHED),
        "lfs": Input("false", ignored="LFS files are as the working tree has them"),
        "submodules": Input("false", ignored=NO_SUBMODULES),
        "set-safe-directory": Input("true", note="the workspace belongs to the job's user"),
        "github-server-url": Input(note=NOT_FETCHED),
        "allow-unsafe-pr-checkout": Input("false", note="a pull request runs its own commit"),
    },
    {"ref": "", "commit": ""},
)

SETUP_PYTHON = Contract(
    "actions/setup-python",
    "v7.0.0",
    {
        "python-version": Input(note="an installed interpreter, else one uv installs"),
        "python-version-file": Input(),
        "cache": Input(note="pip's own download cache (~/.cache/pip) serves every job"),
        "architecture": Input(ignored=ONE_MACHINE),
        "check-latest": Input("false", ignored="an installed interpreter that matches is used"),
        "token": Input(ON_GITHUB_COM, note=NO_DOWNLOAD),
        "cache-dependency-path": Input(note="pip's own download cache serves every job"),
        "update-environment": Input("true"),
        "allow-prereleases": Input("false"),
        "freethreaded": Input("false", ignored="a free-threaded build is not looked for"),
        "pip-version": Input(ignored="the pip made for that interpreter is used"),
    },
    {
        "python-version": "",
        "cache-hit": "always false: nothing is cached by this step",
        "python-path": "",
    },
)

SETUP_NODE = Contract(
    "actions/setup-node",
    "v7.0.0",
    {
        "node-version": Input(note="from nodejs.org/dist into lockgate's tool cache"),
        "node-version-file": Input(),
        "architecture": Input(ignored=ONE_MACHINE),
        "check-latest": Input("false"),
        "registry-url": Input(note="an .npmrc in the job's temp, read by npm and yarn"),
        "scope": Input(),
        "token": Input(ON_GITHUB_COM, note=NO_DOWNLOAD),
        "cache": Input(note=SHARED_TOOL_CACHE),
        "package-manager-cache": Input("true", note="caching follows `cache`"),
        "cache-dependency-path": Input(note=SHARED_TOOL_CACHE),
        "mirror": Input(ignored="Node.js comes from nodejs.org/dist"),
        "mirror-token": Input(ignored="Node.js comes from nodejs.org/dist"),
    },
    {
        "cache-hit": "",
        "cache-primary-key": f"not set: {SHARED_TOOL_CACHE}",
        "cache-matched-key": f"not set: {SHARED_TOOL_CACHE}",
        "node-version": "",
    },
)

CACHE = Contract(
    "actions/cache",
    "v5.0.5",
    {
        "path": Input(),
        "key": Input(),
        "restore-keys": Input(),
        "upload-chunk-size": Input(note="entries are local files"),
        "enableCrossOsArchive": Input("false", note="entries never leave this machine"),
        "fail-on-cache-miss": Input("false"),
        "lookup-only": Input("false"),
        "save-always": Input("false"),
    },
    {"cache-hit": ""},
)

UPLOAD_ARTIFACT = Contract(
    "actions/upload-artifact",
    "v7.0.0",
    {
        "name": Input("artifact"),
        "path": Input(),
        "if-no-files-found": Input("warn"),
        "retention-days": Input(ignored="artifacts live as long as their run's records"),
        "compression-level": Input("6", note="artifacts are kept as files, not zipped"),
        "overwrite": Input("false"),
        "include-hidden-files": Input("false"),
        "archive": Input("true", note="artifacts are kept as files, not zipped"),
    },
    {
        "artifact-id": "the artifact's name: artifacts have no numeric id here",
        "artifact-url": "not set: artifacts are files on this machine",
        "artifact-digest": "not set: artifacts are not zipped",
    },
)

DOWNLOAD_ARTIFACT = Contract(
    "actions/download-artifact",
    "v8.0.1",
    {
        "name": Input(),
        "artifact-ids": Input(ignored="artifacts have no numeric id here: name them"),
        "path": Input(),
        "pattern": Input(),
        "merge-multiple": Input("false"),
        "github-token": Input(ignored="only the run's own artifacts are downloaded"),
        "repository": Input(
            "${{ github.repository }}", ignored="only the run's own artifacts are downloaded"
        ),
        "run-id": Input("${{ github.run_id }}", ignored="only the run's own artifacts"),
        "skip-decompress": Input("false", note="artifacts are kept as files, not zipped"),
        "digest-mismatch": Input("error", note="artifacts are local copies"),
    },
    {"download-path": ""},
)

UV_GLOBS = "\n".join(
    ["**/*requirements*.txt", "**/*requirements*.in", "**/*constraints*.txt",
     "**/*constraints*.in", "**/pyproject.toml", "**/uv.lock", "**/*.py.lock", ""]
)  # fmt: skip
UNCACHED_UV = "the uv cache in lockgate's tool cache is shared, never saved or restored"
SETUP_UV = Contract(
    "astral-sh/setup-uv",
    "v10.0.1",
    {
        "version": Input("", note="a release from PyPI, checked against PyPI's sha256"),
        "version-file": Input(""),
        "python-version": Input(),
        "activate-environment": Input("false"),
        "venv-path": Input(""),
        "no-project": Input("false"),
        "working-directory": Input("${{ github.workspace }}"),
        "checksum": Input(ignored="uv is checked against PyPI's sha256 instead"),
        "github-token": Input("${{ github.token }}", note=NO_DOWNLOAD),
        "enable-cache": Input("auto"),
        "cache-dependency-glob": Input(UV_GLOBS, ignored=UNCACHED_UV),
        "restore-cache": Input("true", ignored=UNCACHED_UV),
        "save-cache": Input("true", ignored=UNCACHED_UV),
        "cache-suffix": Input(ignored=UNCACHED_UV),
        "cache-local-path": Input(""),
        "prune-cache": Input("false", ignored=UNCACHED_UV),
        "cache-python": Input("false", ignored=UNCACHED_UV),
        "ignore-nothing-to-cache": Input("false", ignored=UNCACHED_UV),
        "ignore-empty-workdir": Input("false", ignored="nothing is cached from it"),
        "tool-dir": Input(),
        "tool-bin-dir": Input(),
        "manifest-file": Input(ignored="uv comes from PyPI"),
        "download-from-astral-mirror": Input("true", ignored="uv comes from PyPI"),
        "add-problem-matchers": Input("true", ignored="lockgate has no problem matchers"),
        "quiet": Input("false", note="it says little anyway"),
        "resolution-strategy": Input("highest", ignored="the newest matching release is used"),
    },
    {
        "uv-version": "",
        "uv-path": "",
        "uvx-path": "",
        "cache-hit": "",
        "cache-key": f"not set: {UNCACHED_UV}",
        "venv": "",
        "python-version": "",
        "python-cache-hit": "always false: pythons are not cached by this step",
    },
)

CONTRACTS = {
    c.action: c
    for c in (
        CHECKOUT,
        SETUP_PYTHON,
        SETUP_NODE,
        CACHE,
        UPLOAD_ARTIFACT,
        DOWNLOAD_ARTIFACT,
        SETUP_UV,
    )
}


def input_notes(
    contract: Contract, given: Mapping[str, str], render: Callable[[str], str]
) -> list[str]:
    """Workflow commands for what a step gives: inputs the action does not have (a warning,
    in GitHub's words), and ignored inputs given a value other than their default (`render`
    evaluates a default such as `${{ github.repository }}`)."""
    unknown = [name for name in given if name not in contract.inputs]
    said = []
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        said.append(
            f"::warning::Unexpected input(s) {listed}, valid inputs are {list(contract.inputs)}"
        )
    for name, value in given.items():
        rule = contract.inputs.get(name)
        if rule is None or not rule.ignored:
            continue
        default = render(rule.default) if rule.default else ""
        if value.strip().lower() == default.strip().lower():
            continue
        said.append(f"::notice::{contract.action}: input '{name}' is ignored here: {rule.ignored}")
    return said


def markdown() -> str:
    """The tables of docs/builtin-actions.md."""
    parts = [
        "# Built-in actions\n\n"
        "These actions run inside lockgate, with nothing downloaded. Each follows the inputs "
        "and outputs of the release named. A step giving an input the action does not have gets "
        "GitHub's warning; one giving an input marked *ignored* a value other than its default "
        "gets a notice saying why. Any other action runs from its own repository, as on "
        "GitHub. This page is the output of `lockgate actions`.\n"
    ]
    for contract in CONTRACTS.values():
        parts.append(f"\n## {contract.action} ({contract.version})\n\n")
        parts.append("| input | default | lockgate |\n| --- | --- | --- |\n")
        for name, rule in contract.inputs.items():
            shown = " ".join(rule.default.split()).replace("|", "\\|") if rule.default else ""
            default = f"`{shown}`" if shown else ""
            how = f"ignored: {rule.ignored}" if rule.ignored else rule.note or "as on GitHub"
            parts.append(f"| `{name}` | {default} | {how} |\n")
        parts.append("\n| output | lockgate |\n| --- | --- |\n")
        for name, why in contract.outputs.items():
            parts.append(f"| `{name}` | {why or 'as on GitHub'} |\n")
    return "".join(parts)

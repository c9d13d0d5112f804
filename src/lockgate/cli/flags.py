"""`lockgate flags create | list | show | enable | disable | rollout | guard | guarded | segment |
segments | apply | define | archive | history | eval | debt | refs`: feature flags, which
`lockgate serve` serves to Unleash and OpenFeature SDKs; every change audited."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..common.errors import UserError
from ..flags.context import Context
from ..flags.definitions import Strategy
from ..flags.evaluate import Evaluator
from ..flags.refs import references
from ..flags.service import FlagService
from ..store.flags import FlagChange, FlagKind, FlagRecords
from . import flagfiles, flagguard, flagsegments
from .options import DbOpt, OutputOpt, RepoOpt, open_store, user

app = typer.Typer(
    help="Feature flags: deploy is not release. `lockgate serve` serves them to Unleash SDKs.",
    no_args_is_help=True,
)
FlagArg = Annotated[str, typer.Argument(help="the flag's name")]
EnvArg = Annotated[str, typer.Argument(help="the environment (production, staging, ...)")]


def _service(repo: Path, db: str | None) -> FlagService:
    return FlagService(FlagRecords(open_store(db, repo)))


def _said(change: FlagChange, output: str) -> None:
    if output == "json":
        print(json.dumps(dataclasses.asdict(change), indent=2))
    else:
        print(f"{change.flag}: {change.summary} (change #{change.id})")


@app.command()
def create(
    name: FlagArg,
    kind: Annotated[
        str, typer.Option("--type", help=", ".join(k.value for k in FlagKind))
    ] = "release",
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    repo: RepoOpt = Path("."),
    db: DbOpt = None,
) -> None:
    """Create a flag, off in every environment. A name is never used twice, even archived."""
    record = _service(repo, db).create(name, kind, description, user())
    days = record.kind.lifetime_days
    expected = f"expected to live {days} days" if days else "meant to stay"
    print(f"created flag {record.name} ({record.kind}, {expected})")


@app.command("list")
def listing(
    env: Annotated[str | None, typer.Argument(help="show its state in this environment")] = None,
    archived: Annotated[bool, typer.Option("--archived", help="with archived flags")] = False,
    repo: RepoOpt = Path("."),
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """The flags (with their state in ENV)."""
    service = _service(repo, db)
    records = service.records.all(archived=archived)
    states = {f.name: f for f in service.client_features(env).features} if env else {}
    if output == "json":
        print(json.dumps([
            {**dataclasses.asdict(r),
             **({"state": states[r.name].model_dump(mode="json", by_alias=True)}
                if r.name in states else {})}
            for r in records
        ], indent=2))  # fmt: skip
        return
    console = Console()
    for record in records:
        state = states.get(record.name)
        shown = ""
        if record.archived_at is not None:
            shown = " archived"
        elif state is not None:
            shown = f" {_describe(state.enabled, state.strategies)}"
        console.print(f"{escape(record.name)} ({record.kind}){escape(shown)}", highlight=False)


def _describe(enabled: bool, strategies: tuple[Strategy, ...]) -> str:
    if not enabled:
        return "off"
    if len(strategies) == 1 and strategies[0].name == "flexibleRollout":
        return f"on for {strategies[0].parameters.get('rollout', '0')}%"
    return "on" if not strategies else f"on ({len(strategies)} strategies)"


@app.command()
def show(
    name: FlagArg,
    env: EnvArg,
    repo: RepoOpt = Path("."),
    db: DbOpt = None,
) -> None:
    """The flag in ENV, as SDKs fetch it (JSON)."""
    feature = _service(repo, db).feature(name, env)
    print(json.dumps(feature.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2))


@app.command()
def enable(
    name: FlagArg, env: EnvArg, repo: RepoOpt = Path("."), output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:  # fmt: skip
    """Turn the flag on in ENV (its strategies decide for whom)."""
    _said(_service(repo, db).switch(name, env, True, user()), output)


@app.command()
def disable(
    name: FlagArg, env: EnvArg, repo: RepoOpt = Path("."), output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:  # fmt: skip
    """Turn the flag off in ENV, for everyone, without a deploy."""
    _said(_service(repo, db).switch(name, env, False, user()), output)


@app.command()
def rollout(
    name: FlagArg,
    env: EnvArg,
    percent: Annotated[int, typer.Argument(help="0 to 100")],
    stickiness: Annotated[
        str, typer.Option("--stickiness", help="default (user, then session), random, a field")
    ] = "default",
    repo: RepoOpt = Path("."),
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Serve the flag to PERCENT of users in ENV; a user who has it keeps it as it grows.

    Example: lockgate flags rollout new-checkout production 10
    """
    _said(_service(repo, db).rollout(name, env, percent, user(), stickiness), output)


app.command()(flagguard.guard)
app.command()(flagguard.guarded)
app.command()(flagsegments.segment)
app.command()(flagsegments.segments)
app.command()(flagfiles.apply)


@app.command()
def define(
    name: FlagArg,
    env: EnvArg,
    file: Annotated[Path, typer.Argument(help="JSON: enabled, strategies, variants (Unleash's)")],
    repo: RepoOpt = Path("."),
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Replace the flag's state in ENV with FILE's: constraints, segments, variants and all."""
    try:
        document = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {file}: {exc}", where=str(file)) from None
    if not isinstance(document, dict):
        raise UserError("the definition must be a JSON object", where=str(file))
    _said(_service(repo, db).define(name, env, document, user()), output)


@app.command()
def archive(
    name: FlagArg,
    reason: Annotated[str, typer.Option("--reason", help="why it goes: kept with its name")],
    repo: RepoOpt = Path("."),
    db: DbOpt = None,
) -> None:
    """Retire the flag everywhere. Its name is never used again."""
    record = _service(repo, db).archive(name, user(), reason)
    print(f"archived flag {record.name}: its name stays retired")


@app.command()
def history(
    name: Annotated[str | None, typer.Argument(help="one flag (default: all)")] = None,
    env: Annotated[str | None, typer.Option("--env", help="one environment")] = None,
    repo: RepoOpt = Path("."),
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Every change: when, who, what."""
    changes = _service(repo, db).records.changes(name, env)
    if output == "json":
        print(json.dumps([dataclasses.asdict(c) for c in changes], indent=2))
        return
    for change in changes:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(change.at))
        print(f"#{change.id} {when} {change.actor}: {change.flag}: {change.summary}")


@app.command("eval")
def evaluate(
    name: FlagArg,
    env: EnvArg,
    context: Annotated[
        list[str] | None, typer.Option("--context", "-c", help="userId=42, country=NO, ...")
    ] = None,
    repo: RepoOpt = Path("."),
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """What the flag answers in ENV for a context, and why."""
    fields = {}
    for pair in context or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"{pair!r} is not NAME=VALUE", where="--context")
        fields[key] = value
    seen = Evaluator(_service(repo, db).client_features(env)).evaluate(name, Context.of(fields))
    if output == "json":
        print(json.dumps(dataclasses.asdict(seen), indent=2, default=lambda p: p.model_dump()))
        return
    variant = f", variant {seen.variant.name}" if seen.variant.enabled else ""
    print(f"{name}: {'on' if seen.enabled else 'off'}{variant} ({seen.reason})")


@app.command()
def debt(
    settled_days: Annotated[
        float, typer.Option("--settled-days", help="on or off for everyone this long is debt")
    ] = 14,
    code: Annotated[
        Path | None, typer.Option("--code", help="a directory: where each flag is still named")
    ] = None,
    repo: RepoOpt = Path("."),
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Flags past the lifetime their type expects (release and experiment 40 days, operational
    7), or on or off for everyone longer than --settled-days: remove them from the code, then
    archive them."""
    if code is not None and not code.is_dir():
        raise UserError(f"{code} is not a directory", where="--code")
    found = _service(repo, db).debts(time.time(), settled_days, code)
    if output == "json":
        print(json.dumps([dataclasses.asdict(d) for d in found], indent=2))
        return
    if not found:
        print("no flag debt")
    for item in found:
        print(f"{item.flag} ({item.kind}): {'; '.join(item.reasons)}")
        for where in item.references:
            print(f"  still named at {where}")


@app.command()
def refs(
    directory: Annotated[Path, typer.Argument(help="the code to search")],
    name: Annotated[
        str | None, typer.Option("--flag", help="one flag (default: every flag)")
    ] = None,
    repo: RepoOpt = Path("."),
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Where the code under DIRECTORY names each flag (archived ones too: they must be gone)."""
    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory")
    names = [name] if name else [r.name for r in _service(repo, db).records.all(archived=True)]
    found = references(directory, names)
    if output == "json":
        print(json.dumps(found, indent=2))
        return
    for flag in names:
        places = found.get(flag, [])
        print(f"{flag}: {len(places)} reference{'s' if len(places) != 1 else ''}")
        for where in places:
            print(f"  {where}")

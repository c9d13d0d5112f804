"""`actions/setup-node`: a Node.js from lockgate's tool cache, first on PATH for the job."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..common.userdirs import cache_dir
from .builtin import ActionFailed, BuiltinContext
from .node import NodeToolchains, NodeUnavailable, node_version


def wanted(ctx: BuiltinContext) -> str:
    """node-version, else node-version-file (.nvmrc, .node-version, package.json), else ""."""
    spec = ctx.input("node-version").strip()
    if spec:
        return spec
    name = ctx.input("node-version-file")
    if not name:
        return ""
    path = (ctx.workspace / name).resolve()
    if not path.is_relative_to(ctx.workspace.resolve()) or not path.is_file():
        raise ActionFailed(f"node-version-file {name!r} is not a file in the workspace")
    return version_from_file(path)


def write_npmrc(ctx: BuiltinContext, registry: str) -> None:
    """As setup-node does: an .npmrc in the job's temp naming the registry (for a scope, if
    one is given or the registry is GitHub's), authenticated by ${NODE_AUTH_TOKEN}."""
    if not registry.startswith(("https://", "http://")):
        raise ActionFailed(f"registry-url {registry!r} is not an http(s) URL")
    url = registry if registry.endswith("/") else registry + "/"
    scope = ctx.input("scope").strip()
    if not scope and "npm.pkg.github.com" in url:
        scope = ctx.repository.split("/")[0]
    if scope and not scope.startswith("@"):
        scope = f"@{scope}"
    where = f"{scope.lower()}:registry" if scope else "registry"
    npmrc = ctx.temp / ".npmrc"
    npmrc.write_text(f"{where}={url}\n{url.split(':', 1)[1]}:_authToken=${{NODE_AUTH_TOKEN}}\n")
    ctx.env["NPM_CONFIG_USERCONFIG"] = str(npmrc)
    # npm refuses a config naming an unset variable: a placeholder, as setup-node exports
    ctx.env["NODE_AUTH_TOKEN"] = ctx.step_env.get("NODE_AUTH_TOKEN") or "XXXXX-XXXXX-XXXXX-XXXXX"
    ctx.log(f"npm registry {url}{' for ' + scope if scope else ''}: {npmrc}")


def version_from_file(path: Path) -> str:
    text = path.read_text(errors="replace")
    if path.name == "package.json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ActionFailed(f"{path.name}: {exc}") from None
        found = (data.get("volta") or {}).get("node") or (data.get("engines") or {}).get("node")
        if not isinstance(found, str):
            raise ActionFailed("package.json names no Node.js version (volta.node, engines.node)")
        return found
    if path.name == ".tool-versions":
        for line in text.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] in ("nodejs", "node"):
                return fields[1]
        raise ActionFailed(".tool-versions has no `nodejs` line")
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    return next((line for line in lines if line), "")


def setup_node(ctx: BuiltinContext) -> None:
    registry = ctx.input("registry-url").strip()
    if registry:
        write_npmrc(ctx, registry)
    spec = wanted(ctx)
    if not spec:
        host = shutil.which("node")
        if host is None:
            raise ActionFailed("no node-version given and no node on PATH; set node-version")
        ctx.outputs["node-version"] = node_version(Path(host).parent)
        ctx.log(f"no node-version given: using {host} ({ctx.outputs['node-version']})")
        return
    toolchains = NodeToolchains(ctx.offline)
    try:
        version, bin_dir = toolchains.bin_dir(
            spec, prefer_cached=ctx.input("check-latest").lower() != "true"
        )
    except NodeUnavailable as exc:
        raise ActionFailed(str(exc)) from None
    ctx.paths.append(str(bin_dir))
    ctx.outputs["node-version"] = f"v{version}"
    ctx.log(f"Node.js v{version} from lockgate's tool cache ({bin_dir})")
    manager = ctx.input("cache")
    if manager:
        if manager != "npm":
            ctx.log(f"::warning::cache: {manager} is kept like npm's: in lockgate's tool cache")
        store = cache_dir("package-managers", manager)
        ctx.outputs["cache-hit"] = "true" if any(store.iterdir()) else "false"
        ctx.env.update({"npm_config_cache": str(store), "YARN_CACHE_FOLDER": str(store / "yarn")})

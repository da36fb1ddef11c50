"""Node.js packages: installed `node_modules/**/package.json`, a project's own package.json, and, for apps
shipped without node_modules, `package-lock.json` (v1-v3), `yarn.lock` (classic and berry), `pnpm-lock.yaml`."""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from packageurl import PackageURL

from hullscan.scanner.analyzers.base import AnalysisContext, AnalysisResult, FileEntry, warn
from hullscan.scanner.inventory import Package

_MODULE_ROOT = re.compile(r"/node_modules/(?:@[^/]+/)?[^/@][^/]*/package\.json$")
LOCK_NAMES = ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml")


def npm_purl(name: str, version: str | None) -> str:
    namespace, _, short = name.rpartition("/")
    return PackageURL(type="npm", namespace=namespace or None, name=short, version=version or None).to_string()


def _package(name: str, version: str, path: str, licenses: list[str] | None = None, **props: str) -> Package:
    return Package(name=name, version=version, type="npm", purl=npm_purl(name, version), licenses=licenses or [],
                   path=path, properties=props)


def licenses_of(manifest: dict[str, Any]) -> list[str]:
    """`license` as a string or `{type}` object, or the legacy `licenses` array."""
    found: list[str] = []
    value = manifest.get("license")
    if isinstance(value, str) and value.strip():
        found.append(value.strip())
    elif isinstance(value, dict) and isinstance(value.get("type"), str):
        found.append(value["type"])
    elif isinstance(value, list):
        found += [x for x in value if isinstance(x, str)]
    legacy = manifest.get("licenses")
    if not found and isinstance(legacy, list):
        for item in legacy:
            if isinstance(item, str):
                found.append(item)
            elif isinstance(item, dict) and isinstance(item.get("type"), str):
                found.append(item["type"])
    return found


def parse_package_json(data: bytes, path: str) -> Package | None:
    manifest = json.loads(data)
    if not isinstance(manifest, dict):
        raise ValueError("package.json is not an object")
    name, version = manifest.get("name"), manifest.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return None
    props = {} if "/node_modules/" in path else {"kind": "project"}
    return _package(name, version, path, licenses_of(manifest), **props)


def parse_package_lock(data: bytes, path: str) -> list[Package]:
    lock = json.loads(data)
    if not isinstance(lock, dict):
        raise ValueError("lock file is not an object")
    found: list[Package] = []
    packages = lock.get("packages")
    if isinstance(packages, dict) and packages:  # lockfileVersion 2 and 3
        by_key: dict[str, Package] = {}
        for key, meta in packages.items():
            if not isinstance(meta, dict) or meta.get("link"):
                continue
            if not key:  # the project itself
                meta = {**meta, "name": meta.get("name") or lock.get("name"),
                        "version": meta.get("version") or lock.get("version")}
            name = meta.get("name") or key.rpartition("node_modules/")[2]
            version = meta.get("version")
            if isinstance(name, str) and isinstance(version, str) and name and version:
                by_key[key] = package = _package(name, version, path, licenses_of(meta))
                found.append(package)
        placed = _placement(by_key)
        for key, package in by_key.items():
            package.depends = _lock_dependencies(key, packages[key], placed)
        return found
    if isinstance(lock.get("name"), str) and isinstance(lock.get("version"), str):
        found.append(_package(lock["name"], lock["version"], path))
    # lockfileVersion 1: nested "dependencies"; each entry's `requires` resolve in its own nested
    # dependencies, then in each enclosing level's (Node's lookup), up to MAX_NESTING levels
    stack: list[tuple[object, tuple[dict[str, Any], ...]]] = [(lock.get("dependencies"), ())]
    while stack:
        deps, enclosing = stack.pop()
        if not isinstance(deps, dict):
            continue
        chain = (deps, *enclosing)[:MAX_NESTING]
        for name, meta in deps.items():
            if isinstance(meta, dict) and isinstance(meta.get("version"), str):
                package = _package(name, meta["version"], path)
                own = meta.get("dependencies")
                scopes = ((own, *chain) if isinstance(own, dict) else chain)[:MAX_NESTING]
                package.depends = _v1_requires(meta.get("requires"), scopes)
                found.append(package)
                stack.append((own, chain))
    return found


def _v1_requires(requires: object, scopes: tuple[dict[str, Any], ...]) -> list[str]:
    """`name version` of each required name, from the innermost `dependencies` level that has it."""
    out: list[str] = []
    if isinstance(requires, dict):
        for name in requires:
            for level in scopes:
                meta = level.get(name)
                if isinstance(meta, dict) and isinstance(meta.get("version"), str):
                    out.append(f"{name} {meta['version']}")
                    break
    return out


_DEPENDENCY_FIELDS = ("dependencies", "optionalDependencies", "peerDependencies")
MAX_NESTING = 64  # node_modules levels looked through for one dependency


def _placement(by_key: dict[str, Package]) -> dict[tuple[str, str], Package]:
    """Lock entries by (the directory whose node_modules holds them, name): `node_modules/a/node_modules/@s/b`
    is (`node_modules/a`, `@s/b`); a top-level entry's directory is ``."""
    placed: dict[tuple[str, str], Package] = {}
    for key, package in by_key.items():
        cut = key.rfind("node_modules/")
        if cut >= 0 and (cut == 0 or key[cut - 1] == "/"):
            placed[(key[: max(cut - 1, 0)], key[cut + len("node_modules/") :])] = package
    return placed


def _lock_dependencies(key: str, meta: dict[str, Any], placed: dict[tuple[str, str], Package]) -> list[str]:
    """The lock entries the package at `key` uses, found as Node resolves `require()`: `<key>/node_modules/<name>`,
    then each enclosing node_modules up to the top (`name version` entries, so duplicates stay apart). The
    enclosing directories are cut once per package, so a long key costs its length, not per dependency."""
    bases = [key]
    while bases[-1] and len(bases) < MAX_NESTING:
        cut = bases[-1].rfind("/node_modules/")
        bases.append(bases[-1][:cut] if cut >= 0 else "")
    out: list[str] = []
    for field in _DEPENDENCY_FIELDS:
        wanted = meta.get(field)
        if not isinstance(wanted, dict):
            continue
        for name in wanted:
            for base in bases:
                target = placed.get((base, name))
                if target is not None:
                    out.append(f"{target.name} {target.version}")
                    break
    return out


def _split_spec(spec: str) -> str:
    spec = spec.strip().strip('"')
    at = spec.find("@", 1)
    return spec[:at] if at > 0 else spec


_REGISTRY_NAME = re.compile(r"^https?://[^/]+/((?:@[^/]+/)?[^/@]+)/-/")


def parse_yarn_lock(data: bytes, path: str) -> list[Package]:
    """yarn classic (`version "x"`) and berry (`version: x`) lock files; for classic the registry URL in
    `resolved` names the package when it differs from the alias in the header (as yarn itself installs it)."""
    found: list[Package] = []
    seen: set[tuple[str, str]] = set()
    block: dict[str, str] = {}

    def flush() -> None:
        name, version = block.get("name"), block.get("version")
        if (match := _REGISTRY_NAME.match(block.get("resolved", ""))) and name:
            name = match[1]
        if name and version and (name, version) not in seen:
            seen.add((name, version))
            found.append(_package(name, version, path))
        block.clear()

    for line in data.decode("utf-8", "replace").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            flush()
            header = line.rstrip().rstrip(":")
            if not header.startswith("__metadata"):  # a workspace entry is the project itself
                block["name"] = _split_spec(header.split(",")[0])
            continue
        if line.startswith("  ") and not line.startswith("   ") and block.get("name"):
            key, _, value = line.strip().partition(" ")
            key = key.rstrip(":")
            if key in ("version", "resolved"):
                block[key] = value.strip().strip('"')
    flush()
    return found


_PEER = re.compile(r"\(.*$")
#: YAML aliases share one object however often they are used, so a 500-byte document can stand for a tree of
#: billions of nodes (the "billion laughs"). Anything that walks or prints the loaded value walks that tree:
#: a document may expand to at most this many nodes beyond what its bytes can spell out without aliases.
YAML_EXPANSION_BUDGET = 10_000


class YamlBombError(ValueError):
    """A YAML document whose aliases expand past the budget."""


def check_expansion(doc: object, allowed: int) -> None:
    """Count the nodes of `doc` as a tree (aliases expanded), giving up past `allowed`: time O(allowed)."""
    stack = [doc]
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > allowed:
            raise YamlBombError(f"YAML aliases expand past {allowed} nodes")
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def load_yaml_documents(data: bytes) -> list[object]:
    """Safe-load every document (libyaml when present), refusing alias bombs before anyone walks them. Without
    aliases a node takes at least two bytes, so a document may have len(data)/2 + budget nodes."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = list(yaml.load_all(data, Loader=loader))
    allowed = len(data) // 2 + YAML_EXPANSION_BUDGET
    check_expansion(docs, allowed)  # one budget for all documents together
    return docs


def parse_pnpm_lock(data: bytes, path: str) -> list[Package]:
    found: list[Package] = []
    seen: set[tuple[str, str]] = set()
    for doc in load_yaml_documents(data):
        if not isinstance(doc, dict) or not isinstance(doc.get("packages"), dict):
            continue
        try:
            lock_version = float(str(doc.get("lockfileVersion", "6")).split(".")[0])
        except ValueError:
            lock_version = 6.0
        direct = doc.get("dependencies")
        if isinstance(direct, dict):  # lockfile v5: direct dependencies as name: version[_peers]
            for name, version in direct.items():
                if isinstance(version, str | int | float):
                    version = str(version).split("_", 1)[0].split("(", 1)[0]
                    if version and not version.startswith(("link:", "file:")) and (name, version) not in seen:
                        seen.add((name, version))
                        found.append(_package(str(name), version, path))
        for key, meta in doc["packages"].items():
            key = _PEER.sub("", str(key)).lstrip("/")
            if lock_version < 6:
                key = key.split("_", 1)[0] if "_" in key.rpartition("/")[2] else key
                name, _, version = key.rpartition("/")
            else:
                at = key.rfind("@")
                name, version = (key[:at], key[at + 1 :]) if at > 0 else ("", "")
            if isinstance(meta, dict) and meta.get("name") and meta.get("version"):
                name, version = str(meta["name"]), str(meta["version"])
            if name and version and (name, version) not in seen:
                seen.add((name, version))
                found.append(_package(name, version, path))
    return found


class NpmAnalyzer:
    name = "npm"
    version = 4
    per_file = False  # a lock file only counts when its directory has no installed node_modules

    def wants(self, path: str, size: int, mode: int) -> bool:
        base = posixpath.basename(path)
        if base == "package.json":
            return "/node_modules/" not in path or bool(_MODULE_ROOT.search(path))
        return base in LOCK_NAMES and "/node_modules/" not in path

    def analyze(self, files: list[FileEntry], ctx: AnalysisContext) -> AnalysisResult:
        result = AnalysisResult()
        installed_roots = {e.path.split("/node_modules/", 1)[0] for e in files if "/node_modules/" in e.path}
        for entry in files:
            base = posixpath.basename(entry.path)
            try:
                if base == "package.json":
                    if package := parse_package_json(entry.read(), entry.path):
                        result.packages.append(package)
                    continue
                if posixpath.dirname(entry.path) in installed_roots:
                    continue  # node_modules is the truth; the lock file would only repeat it
                data = entry.read()
                if base == "yarn.lock":
                    result.packages.extend(parse_yarn_lock(data, entry.path))
                elif base == "pnpm-lock.yaml":
                    result.packages.extend(parse_pnpm_lock(data, entry.path))
                else:
                    result.packages.extend(parse_package_lock(data, entry.path))
            except Exception as exc:  # noqa: BLE001
                result.warnings.append(warn(entry.path, exc))
        return result

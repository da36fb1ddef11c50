"""`analyze(source) -> Inventory`: resolve the image, analyse each layer (or take it from the cache), then
merge the layers in order, applying whiteouts, opaque dirs and overwrites, and detect the OS."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from hullscan.scanner.analyzers import Analyzer, analyzer_set_version, default_analyzers
from hullscan.scanner.analyzers.npm import LOCK_NAMES
from hullscan.scanner.cache import LayerCache, NullCache
from hullscan.scanner.inventory import Inventory, OperatingSystem, Package
from hullscan.scanner.analyzers.redhat_content import content_sets, tag_packages
from hullscan.scanner.osdetect import OS_FILES, detect
from hullscan.scanner.source import LayerRef, ResolvedImage, SourceError, open_source
from hullscan.scanner.walker import LayerResult, Limits, walk_directory, walk_layer

MAX_LINK_HOPS = 40


def analyze(source: str, *, platform: str | None = None, cache: LayerCache | None = None,
            analyzers: list[Analyzer] | None = None, limits: Limits | None = None, insecure: bool = False,
            username: str | None = None, password: str | None = None,
            on_layer_walk: Callable[[], None] | None = None, cache_dir: Path | None = None) -> Inventory:
    """The inventory of one image (one platform of an index; default linux/amd64). `cache_dir` holds the
    scratch dir big files are spooled to (default ~/.cache/hullscan)."""
    src = open_source(source, insecure=insecure, username=username, password=password, cache_dir=cache_dir)
    try:
        return analyze_resolved(src.resolve(platform), cache=cache, analyzers=analyzers, limits=limits,
                                on_layer_walk=on_layer_walk, cache_dir=cache_dir)
    finally:
        src.close()


def analyze_all(source: str, *, cache: LayerCache | None = None, analyzers: list[Analyzer] | None = None,
                limits: Limits | None = None, insecure: bool = False, username: str | None = None,
                password: str | None = None, on_layer_walk: Callable[[], None] | None = None,
                cache_dir: Path | None = None) -> list[Inventory]:
    """One inventory per platform of an index (a single inventory for a plain manifest)."""
    src = open_source(source, insecure=insecure, username=username, password=password, cache_dir=cache_dir)
    try:
        platforms: list[str | None] = [*src.platforms()] or [None]
        return [analyze_resolved(src.resolve(p), cache=cache, analyzers=analyzers, limits=limits,
                                 on_layer_walk=on_layer_walk, cache_dir=cache_dir)
                for p in platforms]
    finally:
        src.close()


def analyze_resolved(image: ResolvedImage, *, cache: LayerCache | None = None,
                     analyzers: list[Analyzer] | None = None, limits: Limits | None = None,
                     on_layer_walk: Callable[[], None] | None = None, outcome: dict[str, Any] | None = None,
                     cache_dir: Path | None = None) -> Inventory:
    """`on_layer_walk` is called before a layer has to be read (not for cached layers): a hook to overlap
    other start-up work with the walk. `outcome["complete"]` tells whether every layer was analysed to its
    end (from the cache or read), i.e. whether the inventory may be remembered."""
    analyzers = analyzers if analyzers is not None else default_analyzers()
    limits = limits or Limits()
    cache = cache or NullCache()
    version = analyzer_set_version(analyzers)
    results: list[tuple[LayerResult, str | None, str | None]] = []
    stored = _lookup(cache, [layer.diff_id for layer in image.layers if layer.diff_id], version)
    slots: list[tuple[LayerResult | None, str | None, str | None]] = []
    todo: list[int] = []
    for index, layer in enumerate(image.layers):
        cached = _cached(stored.get(layer.diff_id) if layer.diff_id else None, layer)
        slots.append((cached, layer.digest, layer.diff_id))
        if cached is None:
            todo.append(index)
    if todo or image.rootfs_dir is not None:  # a warm scan never touches the disk beyond the cache
        if todo and on_layer_walk is not None:
            on_layer_walk()
        from hullscan.scanner.cache import scratch_dir

        with scratch_dir(cache_dir) as tmp_dir:
            if image.rootfs_dir is not None:
                results.append((walk_directory(image.rootfs_dir, analyzers, limits, tmp_dir), None, None))
            def walk(i: int) -> LayerResult:
                return _walk(image, i, analyzers, limits, tmp_dir)
            if len(todo) > 1 and image.parallel_layers:
                # two layers at a time: each walk keeps a core busy only part of the time (it waits on I/O and
                # decompression), so small layers finish while a big one streams
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=2, thread_name_prefix="layer") as pool:
                    walked = dict(zip(todo, pool.map(walk, todo), strict=True))
            else:
                walked = {i: walk(i) for i in todo}
        for index, result in walked.items():
            layer = image.layers[index]
            if result.complete and layer.diff_id and (result.digest or result.diff_id):
                cache.put(layer.diff_id, version, result.to_json())  # on this thread: sqlite connections are
            slots[index] = (result, layer.digest, layer.diff_id)  # not shared across threads
    results.extend((r, d, i) for r, d, i in slots if r is not None)
    if outcome is not None:
        outcome["complete"] = all(r is not None and r.complete for r, _, _ in slots)
    packages, os_files, warnings = merge_layers(results)
    os_info = detect(os_files, packages)
    tag_packages(packages, content_sets(os_files, warnings))
    finalize(packages, os_info)
    partial = [reason for result, _, _ in results for reason in result.partial]
    return Inventory(image=image.info, os=os_info, packages=packages, warnings=warnings, partial=partial)


def _walk(image: ResolvedImage, index: int, analyzers: list[Analyzer], limits: Limits, tmp_dir: str) -> LayerResult:
    """Read one layer and check it is the layer the manifest and config name."""
    layer = image.layers[index]
    label = f"layer {index + 1} ({layer.digest or layer.diff_id})"
    try:
        with image.open_layer(layer) as blob:
            verify = "none" if getattr(blob, "verifies_digest", False) else ("digest" if layer.digest else "diff_id")
            result = walk_layer(blob, analyzers, limits, tmp_dir, label=label, verify=verify)
            if result.complete and verify == "none":
                result.digest = layer.digest  # the stream raises at EOF when the content does not match
    except SourceError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. a registry digest mismatch mid-stream
        reason = f"{label}: {type(exc).__name__}: {exc}"
        result = LayerResult(complete=False, warnings=[reason], partial=[reason])
    mismatch = None
    if result.complete and result.digest and layer.digest and result.digest != layer.digest:
        mismatch = f"{label}: content is {result.digest}, the manifest says {layer.digest}"
    elif result.complete and layer.diff_id and result.diff_id and result.diff_id != layer.diff_id:
        mismatch = f"{label}: content is {result.diff_id}, the config says {layer.diff_id}"
    if mismatch:
        result.complete = False
        result.warnings.append(mismatch)
        result.partial.append(mismatch)
    return result


def _lookup(cache: LayerCache, diff_ids: list[str], version: str) -> dict[str, dict[str, Any]]:
    """Every layer's cached analysis in one query when the cache can (the local SQLite cache can)."""
    if not diff_ids:
        return {}
    get_many = getattr(cache, "get_many", None)
    if get_many is not None:
        many: dict[str, dict[str, Any]] = get_many(diff_ids, version)
        return many
    found = {}
    for diff_id in diff_ids:
        if (data := cache.get(diff_id, version)) is not None:
            found[diff_id] = data
    return found


def _cached(data: dict[str, Any] | None, layer: LayerRef) -> LayerResult | None:
    """A cached analysis, only if it provably belongs to this layer: stored for the same verified blob
    digest, or for content whose hash was checked against this diff_id. (A config cannot claim someone
    else's diff_id to plant an analysis under it.)"""
    if data is None:
        return None
    try:
        result = LayerResult.from_json(data)
    except (TypeError, ValueError, KeyError):
        return None  # an unreadable entry is a miss
    if result.diff_id == layer.diff_id or (result.digest is not None and result.digest == layer.digest):
        return result
    return None


def _gone(path: str | None, shadowed: set[str], removed: set[str], opaque: set[str]) -> bool:
    """Shadowed by a file of this layer, whited out (itself or an ancestor), or under an opaque dir;
    one set lookup per ancestor, whatever the number of whiteouts."""
    if not path:
        return False
    path = path.split("!", 1)[0]  # a package inside an archive lives and dies with the archive
    if path in shadowed or path in removed:
        return True
    parent = path
    while parent != "/":
        parent = posixpath.dirname(parent)
        if parent in removed or parent in opaque:
            return True
    return False


def merge_layers(results: list[tuple[LayerResult, str | None, str | None]]) -> tuple[list[Package], dict[str, str], list[str]]:
    """Apply layers bottom-up: each layer's whiteouts, opaque dirs and files shadow what lower layers gave."""
    packages: list[Package] = []
    files: dict[str, str] = {}
    links: dict[str, str] = {}
    warnings: list[str] = []
    for result, digest, diff_id in results:
        shadowed = set(result.paths)
        removed = set(result.whiteouts)
        opaque = set(result.opaque_dirs)
        if removed or shadowed or opaque:
            packages = [p for p in packages if not _gone(p.path, shadowed, removed, opaque)]
            files = {k: v for k, v in files.items() if not _gone(k, shadowed, removed, opaque)}
            links = {k: v for k, v in links.items() if not _gone(k, shadowed, removed, opaque)}
        for package in result.packages:
            package.layer_digest, package.layer_diff_id = digest, diff_id
        packages.extend(result.packages)
        files.update(result.os_files)
        links.update(result.links)
        warnings.extend(result.warnings)
    resolved = dict(files)
    for path in OS_FILES:
        if path in resolved:
            continue
        target, hops = path, 0
        while target in links and hops < MAX_LINK_HOPS:
            target, hops = links[target], hops + 1
        if hops >= MAX_LINK_HOPS:
            warnings.append(f"{path}: symlink loop, ignored")
        elif target in files:
            resolved[path] = files[target]
    return packages, resolved, warnings


def os_purl(package: Package, os_info: OperatingSystem | None) -> str:
    qualifiers = {}
    if package.arch:
        qualifiers["arch"] = package.arch
    if package.type == "rpm" and package.properties.get("epoch"):
        qualifiers["epoch"] = package.properties["epoch"]
    if os_info:
        qualifiers["distro"] = f"{os_info.family}-{os_info.version}"
    version = package.version
    if package.type == "rpm" and ":" in version:
        version = version.split(":", 1)[1]
    namespace = os_info.family if os_info else None
    return PackageURL(type=package.type, namespace=namespace, name=package.name, version=version,
                      qualifiers=qualifiers or None).to_string()


def finalize(packages: list[Package], os_info: OperatingSystem | None) -> None:
    """OS package PURLs (they need the distro), and lock-file entries already seen installed are dropped."""
    installed = {(p.name, p.version) for p in packages if p.type == "npm" and p.path
                 and posixpath.basename(p.path) == "package.json"}
    keep: list[Package] = []
    seen: set[tuple[str, str, str, str | None, str | None]] = set()
    for package in packages:
        if package.type in ("deb", "apk", "rpm"):
            try:
                package.purl = os_purl(package, os_info)
            except (TypeError, ValueError):
                continue  # a name no package manager accepts (`/`, blanks): hostile or broken, never matched
        if package.type == "npm" and package.path and posixpath.basename(package.path) in LOCK_NAMES \
                and (package.name, package.version) in installed:
            continue
        key = (package.type, package.name, package.version, package.arch, package.path)
        if key in seen:
            continue
        seen.add(key)
        keep.append(package)
    packages[:] = keep

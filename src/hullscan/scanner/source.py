"""Image sources: where manifests, configs and layer blobs come from.

`docker://HOST/REPO:TAG|@DIGEST` (any registry, via `hullscan.registry.client`), `oci-dir:PATH[:TAG]`
(also `oci:`), `oci-archive:PATH[:TAG]`, `docker-archive:PATH` (docker save), `docker-daemon:IMAGE` and
`podman:IMAGE` (an image of the local Docker or Podman engine, see `DaemonSource`) and `dir:ROOTFS`. Every
source resolves to a `ResolvedImage` per platform; blobs are opened lazily so that cached layers are never read.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from hullscan.mediatypes import INDEX_TYPES
from hullscan.scanner.inventory import ImageInfo

if TYPE_CHECKING:
    from hullscan.scanner.walker import Reader

MAX_JSON_BYTES = 4 << 20


class SourceError(Exception):
    """The image cannot be found or its metadata is unusable: a clear message for the user."""


@dataclass(frozen=True)
class LayerRef:
    digest: str | None  # blob digest (None for legacy docker-archive layers)
    diff_id: str | None
    media_type: str = "application/vnd.oci.image.layer.v1.tar+gzip"
    size: int | None = None


@dataclass(frozen=True)
class ManifestPeek:
    """An image as its manifest names it: the config and layer blobs by digest (each digest verified whenever
    the blob is read), plus the name it was asked by. `platform` is set when an index chose the manifest."""

    name: str
    tag: str | None
    digest: str
    platform: str | None
    reference: str | None
    config_digest: str
    layer_digests: tuple[str, ...]


@dataclass
class ResolvedImage:
    """One platform's image: what to analyse and how to open each layer's blob."""

    info: ImageInfo
    config: dict[str, Any]
    layers: list[LayerRef]
    open_layer: Callable[[LayerRef], AbstractContextManager[Reader]]
    rootfs_dir: str | None = None  # the dir: source has no layers, only a directory
    config_digest: str | None = None
    platforms: list[str] = field(default_factory=list)
    parallel_layers: bool = False  # may layers be opened from two threads at once?


def platform_of(entry: dict[str, Any]) -> str | None:
    p = entry.get("platform") or {}
    if not p.get("os") or not p.get("architecture"):
        return None
    return "/".join(x for x in (p["os"], p["architecture"], p.get("variant")) if x)


def platform_matches(wanted: str, have: str) -> bool:
    w, h = wanted.split("/"), have.split("/")
    return w[:2] == h[:2] and (len(w) < 3 or (len(h) >= 3 and w[2] == h[2]))


def _json(data: bytes, what: str) -> dict[str, Any]:
    if len(data) > MAX_JSON_BYTES:
        raise SourceError(f"{what} is over {MAX_JSON_BYTES} bytes")
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise SourceError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise SourceError(f"{what} is not a JSON object")
    return doc


class ManifestSource:
    """Common OCI logic over two primitives: read a small blob by digest, open a layer blob."""

    name: str = ""
    tag: str | None = None
    reference: str | None = None
    parallel_layers = False  # archives share one file handle; directories and registries do not

    def read_blob(self, digest: str) -> bytes:  # small blobs: manifests, configs
        raise NotImplementedError

    def read_manifest(self, digest: str) -> bytes:  # a child manifest of an index
        return self.read_blob(digest)

    def open_layer(self, layer: LayerRef) -> AbstractContextManager[Reader]:
        raise NotImplementedError

    def top(self) -> tuple[bytes, str]:
        """The top-level manifest or index and its digest."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def _top_doc(self) -> tuple[dict[str, Any], str]:
        data, digest = self.top()
        return _json(data, f"manifest {digest}"), digest

    def platforms(self) -> list[str]:
        doc, _ = self._top_doc()
        if _is_index(doc):
            return [p for m in doc.get("manifests", []) if isinstance(m, dict) and (p := platform_of(m))
                    and p != "unknown/unknown"]
        return []

    def _select(self, platform: str | None) -> tuple[dict[str, Any], str, str | None, list[str]]:
        """The image manifest for `platform` (through the index, if the top is one): (manifest, its digest,
        the index's platform of it or None, every platform the index offers)."""
        doc, digest = self._top_doc()
        if not _is_index(doc):
            return doc, digest, None, []
        entries = [m for m in doc.get("manifests", []) if isinstance(m, dict) and platform_of(m)
                   and platform_of(m) != "unknown/unknown"]
        available = [platform_of(m) or "" for m in entries]
        wanted = platform or "linux/amd64"
        chosen = next((m for m in entries if platform_matches(wanted, platform_of(m) or "")), None)
        if chosen is None and platform is None and len(entries) == 1:
            chosen = entries[0]
        if chosen is None:
            raise SourceError(f"no manifest for platform {wanted}; the index has: {', '.join(available)}")
        digest = _digest_of(chosen)
        return _json(self.read_manifest(digest), f"manifest {digest}"), digest, platform_of(chosen), available

    def peek(self, platform: str | None = None) -> ManifestPeek | None:
        """What identifies the image without reading its config: enough for a remembered SBOM."""
        doc, digest, index_platform, _ = self._select(platform)
        config_desc = doc.get("config")
        layer_descs = doc.get("layers")
        if not isinstance(config_desc, dict) or not isinstance(layer_descs, list):
            raise SourceError(f"manifest {digest} has no config or layers")
        return ManifestPeek(name=self.name, tag=self.tag, digest=digest, platform=index_platform,
                            reference=self.reference, config_digest=_digest_of(config_desc),
                            layer_digests=tuple(_digest_of(d) for d in layer_descs if isinstance(d, dict)))

    def resolve(self, platform: str | None = None) -> ResolvedImage:
        doc, digest, chosen_platform, available = self._select(platform)
        config_desc = doc.get("config")
        if not isinstance(config_desc, dict):
            raise SourceError(f"manifest {digest} has no config")
        config_digest = _digest_of(config_desc)
        config = _json(self.read_blob(config_digest), f"config {config_digest}")
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        layer_descs = doc.get("layers") or []
        if not isinstance(layer_descs, list) or len(diff_ids) != len(layer_descs):
            raise SourceError(f"manifest {digest}: {len(layer_descs)} layers but {len(diff_ids)} diff_ids in config")
        layers = [LayerRef(digest=_digest_of(d), diff_id=str(diff_id), media_type=str(d.get("mediaType", "")),
                           size=d.get("size")) for d, diff_id in zip(layer_descs, diff_ids, strict=True)]
        if chosen_platform is None and config.get("os") and config.get("architecture"):
            chosen_platform = "/".join(x for x in (config["os"], config["architecture"], config.get("variant")) if x)
        info = ImageInfo(name=self.name, tag=self.tag, digest=digest, platform=chosen_platform,
                         reference=self.reference)
        return ResolvedImage(info=info, config=config, layers=layers, open_layer=self.open_layer,
                             config_digest=config_digest, platforms=available, parallel_layers=self.parallel_layers)


def _is_index(doc: dict[str, Any]) -> bool:
    return doc.get("mediaType") in INDEX_TYPES or ("manifests" in doc and "layers" not in doc)


def _digest_of(desc: dict[str, Any]) -> str:
    digest = desc.get("digest")
    if not isinstance(digest, str) or not digest.startswith("sha256:") or len(digest) != 71 or not all(
            c in "0123456789abcdef" for c in digest[7:]):
        raise SourceError(f"bad or missing digest in descriptor: {str(digest)[:80]!r}")
    return digest


def _verified(data: bytes, digest: str) -> bytes:
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise SourceError(f"blob {digest}: content does not match its digest")
    return data


def _select_ref(index: dict[str, Any], tag: str | None, where: str) -> dict[str, Any]:
    manifests = [m for m in index.get("manifests", []) if isinstance(m, dict)]
    if tag:
        for m in manifests:
            if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag:
                return m
        raise SourceError(f"{where}: no image tagged {tag!r}")
    if len(manifests) == 1:
        return manifests[0]
    latest = [m for m in manifests if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == "latest"]
    if latest:
        return latest[0]
    raise SourceError(f"{where}: {len(manifests)} images in the layout; name one with :TAG")


class OciDirSource(ManifestSource):
    parallel_layers = True
    def __init__(self, path: str, tag: str | None = None) -> None:
        self.path, self.tag = path, tag
        self.name = os.path.basename(os.path.abspath(path))
        self.reference = f"oci-dir:{path}" + (f":{tag}" if tag else "")
        if not os.path.isfile(os.path.join(path, "index.json")):
            raise SourceError(f"{path}: not an OCI image layout (no index.json)")

    def _blob_path(self, digest: str) -> str:
        algo, _, hexd = digest.partition(":")
        return os.path.join(self.path, "blobs", algo, hexd)

    def read_blob(self, digest: str) -> bytes:
        try:
            with open(self._blob_path(digest), "rb") as fh:
                return _verified(fh.read(MAX_JSON_BYTES + 1), digest)
        except FileNotFoundError:
            raise SourceError(f"{self.path}: blob {digest} is missing") from None

    @contextmanager
    def open_layer(self, layer: LayerRef) -> Iterator[Reader]:
        assert layer.digest
        try:
            fh = open(self._blob_path(layer.digest), "rb")
        except FileNotFoundError:
            raise SourceError(f"{self.path}: layer blob {layer.digest} is missing") from None
        with fh:
            yield fh

    def top(self) -> tuple[bytes, str]:
        with open(os.path.join(self.path, "index.json"), "rb") as fh:
            index = _json(fh.read(MAX_JSON_BYTES + 1), f"{self.path}/index.json")
        desc = _select_ref(index, self.tag, self.path)
        self.tag = self.tag or (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name")
        digest = _digest_of(desc)
        return self.read_blob(digest), digest


class OciArchiveSource(ManifestSource):
    """A tar of an OCI layout, read in place (random access into the uncompressed tar)."""

    def __init__(self, path: str, tag: str | None = None) -> None:
        self.path, self.tag = path, tag
        self.name = os.path.basename(path)
        self.reference = f"oci-archive:{path}"
        import tarfile

        try:
            self.tar = tarfile.open(path, "r:")
        except (OSError, tarfile.TarError) as exc:
            raise SourceError(f"{path}: not a readable tar archive: {exc}") from None
        self.members = {posixpath.normpath(m.name.lstrip("./")) if m.name not in (".", "./") else ".": m
                        for m in self.tar.getmembers() if m.isreg()}

    def _member(self, name: str) -> IO[bytes]:
        member = self.members.get(name)
        if member is None:
            raise SourceError(f"{self.path}: {name} is missing from the archive")
        fh = self.tar.extractfile(member)
        assert fh is not None
        return fh

    def read_blob(self, digest: str) -> bytes:
        algo, _, hexd = digest.partition(":")
        return _verified(self._member(f"blobs/{algo}/{hexd}").read(MAX_JSON_BYTES + 1), digest)

    @contextmanager
    def open_layer(self, layer: LayerRef) -> Iterator[Reader]:
        assert layer.digest
        algo, _, hexd = layer.digest.partition(":")
        yield self._member(f"blobs/{algo}/{hexd}")

    def top(self) -> tuple[bytes, str]:
        index = _json(self._member("index.json").read(MAX_JSON_BYTES + 1), f"{self.path}!index.json")
        desc = _select_ref(index, self.tag, self.path)
        self.tag = self.tag or (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name")
        digest = _digest_of(desc)
        return self.read_blob(digest), digest

    def close(self) -> None:
        self.tar.close()


class DockerArchiveSource(OciArchiveSource):
    """`docker save` output: manifest.json → config and layer tar paths (gzip or plain)."""

    def __init__(self, path: str, tag: str | None = None) -> None:
        super().__init__(path, tag)
        self.reference = f"docker-archive:{path}"

    def resolve(self, platform: str | None = None) -> ResolvedImage:
        entries = json.loads(self._member("manifest.json").read(MAX_JSON_BYTES + 1))
        if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
            raise SourceError(f"{self.path}: manifest.json is not a docker-save manifest")
        entry = entries[0]
        if self.tag:
            entry = next((e for e in entries if any(str(t).endswith(f":{self.tag}") for t in e.get("RepoTags") or [])),
                         entries[0])
        config_path = posixpath.normpath(str(entry.get("Config", "")))
        config_data = self._member(config_path).read(MAX_JSON_BYTES + 1)
        config = _json(config_data, f"{self.path}!{config_path}")
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        paths = [posixpath.normpath(str(p)) for p in entry.get("Layers") or []]
        if len(paths) != len(diff_ids):
            raise SourceError(f"{self.path}: {len(paths)} layers but {len(diff_ids)} diff_ids")
        layers = []
        self.layer_paths: dict[str, str] = {}
        for p, diff_id in zip(paths, diff_ids, strict=True):
            parts = p.split("/")
            digest = f"sha256:{parts[2]}" if len(parts) == 3 and parts[:2] == ["blobs", "sha256"] else None
            layers.append(LayerRef(digest=digest, diff_id=str(diff_id)))
            self.layer_paths[str(diff_id)] = p
        repo_tags = entry.get("RepoTags") or []
        name, tag = self.name, None
        if repo_tags:
            name, _, tag = str(repo_tags[0]).rpartition(":")
        config_digest = "sha256:" + hashlib.sha256(config_data).hexdigest()
        plat = "/".join(x for x in (config.get("os"), config.get("architecture"), config.get("variant")) if x) or None
        info = ImageInfo(name=name, tag=tag, digest=None, platform=plat, reference=self.reference)
        return ResolvedImage(info=info, config=config, layers=layers, open_layer=self.open_layer,
                             config_digest=config_digest)

    def platforms(self) -> list[str]:
        return []

    def peek(self, platform: str | None = None) -> None:
        return None  # legacy layers are named by path, not by digest: nothing to remember an SBOM by

    @contextmanager
    def open_layer(self, layer: LayerRef) -> Iterator[Reader]:
        assert layer.diff_id
        yield self._member(self.layer_paths[layer.diff_id])


class RegistrySource(ManifestSource):
    parallel_layers = True  # the client keeps one connection per thread in flight
    def __init__(self, ref: str, *, insecure: bool = False, username: str | None = None,
                 password: str | None = None) -> None:
        from hullscan.registry.client import RegistryClient, parse_reference

        try:
            self.ref = parse_reference(ref)
        except ValueError as exc:
            raise SourceError(str(exc)) from None
        self.client = RegistryClient(self.ref.host, insecure=insecure, username=username, password=password)
        self.name, self.tag = self.ref.name, self.ref.tag
        self.reference = str(self.ref)
        self._top: tuple[bytes, str] | None = None
        self._children: dict[str, bytes] = {}

    def read_blob(self, digest: str) -> bytes:
        from hullscan.registry.client import RegistryClientError

        try:
            return self.client.get_blob(self.ref.repository, digest)
        except (RegistryClientError, OSError) as exc:
            raise SourceError(str(exc)) from None

    def _manifest(self, reference: str) -> tuple[bytes, str]:
        from hullscan.registry.client import RegistryClientError

        try:
            manifest = self.client.get_manifest(self.ref.repository, reference)
        except RegistryClientError as exc:
            raise SourceError(str(exc)) from None
        except OSError as exc:
            raise SourceError(f"{self.ref.host}: {exc}") from None
        return manifest.data, manifest.digest

    def top(self) -> tuple[bytes, str]:
        if self._top is None:
            self._top = self._manifest(self.ref.reference)
        return self._top

    def read_manifest(self, digest: str) -> bytes:
        if digest not in self._children:  # peek, then resolve on a memo miss: one request per manifest
            self._children[digest] = self._manifest(digest)[0]
        return self._children[digest]

    @contextmanager
    def open_layer(self, layer: LayerRef) -> Iterator[Reader]:
        """The raw blob response: the walker hashes it against the layer digest on a thread of its own, in
        parallel with decompression (a self-verifying stream would hash on the decompressing thread)."""
        assert layer.digest
        stream = self.client.open_blob(self.ref.repository, layer.digest, verify=False)
        with stream:
            yield stream

    def close(self) -> None:
        self.client.close()


class DirSource:
    def __init__(self, path: str) -> None:
        if not os.path.isdir(path):
            raise SourceError(f"{path}: not a directory")
        self.path = path

    def platforms(self) -> list[str]:
        return []

    def peek(self, platform: str | None = None) -> None:
        return None  # a directory has no digest

    def resolve(self, platform: str | None = None) -> ResolvedImage:
        info = ImageInfo(name=os.path.basename(os.path.abspath(self.path)), reference=f"dir:{self.path}")
        return ResolvedImage(info=info, config={}, layers=[], open_layer=lambda layer: None,  # type: ignore[arg-type,return-value]
                             rootfs_dir=self.path)

    def close(self) -> None:
        pass


DEFAULT_MAX_DAEMON_IMAGE_BYTES = 32 << 30  # Settings.scanner_max_daemon_image_bytes' default
_ENGINES = {"docker-daemon": "docker", "podman": "podman"}


class DaemonSource:
    """An image of the local Docker or Podman engine, exported as a `docker save` archive into the scan's
    scratch dir (bounded by `scanner_max_daemon_image_bytes`), then read as `docker-archive:`.

    The engine API is asked first (Docker's and Podman's compatible API) on the socket the engine's own CLI
    would use: `$DOCKER_HOST` or /var/run/docker.sock for Docker; `$CONTAINER_HOST`,
    `$XDG_RUNTIME_DIR/podman/podman.sock` or /run/podman/podman.sock for Podman. When no socket answers,
    `docker`/`podman` (which also reach ssh:// or TLS engines) is run instead. An image the engine does not
    have is an error, not a fallback.

    `peek` asks only for the image's metadata (`GET /images/{name}/json`, `image inspect`): its config digest
    (the image id) and layer diff_ids name its content, so a remembered SBOM is answered without exporting
    anything; `resolve` exports the archive (`GET /images/{name}/get`, `save`) the first time it is needed."""

    parallel_layers = False

    def __init__(self, engine: str, image: str, cache_dir: Path | None = None, max_bytes: int | None = None) -> None:
        if not image or len(image) > 512 or any(c.isspace() or ord(c) < 32 for c in image) or image.startswith("-"):
            raise SourceError(f"{image[:80]!r} is not an image name or id")
        self.engine, self.image, self.cache_dir = engine, image, cache_dir
        self.max_bytes = max_bytes if max_bytes is not None else _daemon_limit()
        self.reference = f"{'docker-daemon' if engine == 'docker' else engine}:{image}"
        self._archive: DockerArchiveSource | None = None
        self._scratch: Any = None

    def platforms(self) -> list[str]:
        return []

    def peek(self, platform: str | None = None) -> ManifestPeek | None:
        """The image as the engine's metadata names it (None when the engine gives no usable metadata: the
        scan then exports and analyses the image)."""
        doc = self._ask("json", "inspect")
        if isinstance(doc, list):  # `image inspect` prints an array
            doc = doc[0] if len(doc) == 1 else None
        if not isinstance(doc, dict):
            return None
        image_id = doc.get("Id")
        layers = (doc.get("RootFS") or {}).get("Layers") if isinstance(doc.get("RootFS"), dict) else None
        if not isinstance(image_id, str) or not isinstance(layers, list) or not layers:
            return None
        image_id = image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"
        try:
            config_digest = _digest_of({"digest": image_id})
            diff_ids = tuple(_digest_of({"digest": d}) for d in layers)
        except SourceError:
            return None
        tags = doc.get("RepoTags") or []
        name, tag = self.image, None
        if isinstance(tags, list) and tags and isinstance(tags[0], str):
            name, _, tag = tags[0].rpartition(":")
        return ManifestPeek(name=name, tag=tag, digest=config_digest, platform=None, reference=self.reference,
                            config_digest=config_digest, layer_digests=diff_ids)

    def resolve(self, platform: str | None = None) -> ResolvedImage:
        if self._archive is None:
            from contextlib import ExitStack

            from hullscan.scanner.cache import scratch_dir

            self._scratch = ExitStack()
            path = os.path.join(self._scratch.enter_context(scratch_dir(self.cache_dir)), "image.tar")
            self._ask("get", "save", path)
            self._archive = DockerArchiveSource(path)
            self._archive.reference = self.reference
        return self._archive.resolve(platform)

    def _ask(self, endpoint: str, command: str, path: str | None = None) -> Any:
        """`GET /images/{image}/{endpoint}` on the first socket that answers, else the CLI's `command`; the
        archive is written to `path` (get/save), the metadata returned as JSON (json/inspect)."""
        errors: list[str] = []
        for address in engine_sockets(self.engine):
            try:
                return self._api(address, endpoint, path)
            except _Unreachable as exc:
                errors.append(str(exc))
        try:
            return self._cli(command, path)
        except _Unreachable as exc:
            errors.append(str(exc))
            raise SourceError(f"cannot reach the {self.engine} engine: {'; '.join(errors)}") from None

    def _api(self, address: str, endpoint: str, path: str | None) -> Any:
        import http.client
        import socket
        from urllib.parse import quote

        if address.startswith("unix://"):
            where = address[len("unix://"):]

            class UnixConnection(http.client.HTTPConnection):
                def connect(self) -> None:
                    self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self.sock.settimeout(self.timeout)
                    self.sock.connect(where)

            conn: http.client.HTTPConnection = UnixConnection("localhost", timeout=60)
        else:
            host = address.partition("://")[2].rstrip("/")
            conn = http.client.HTTPConnection(host, timeout=60)
        try:
            try:
                conn.request("GET", f"/images/{quote(self.image, safe=':@/')}/{endpoint}")
                response = conn.getresponse()
            except OSError as exc:
                raise _Unreachable(f"{address}: {exc.strerror or exc}") from None
            except http.client.HTTPException as exc:
                raise _Unreachable(f"{address}: {type(exc).__name__}") from None
            if response.status == 404:
                raise SourceError(f"the {self.engine} engine has no image {self.image!r}")
            if response.status != 200:
                detail = response.read(4096).decode("utf-8", "replace")
                raise SourceError(f"the {self.engine} engine answered {response.status} for {self.image!r}: "
                                  f"{_engine_message(detail)}")
            try:
                if path is None:
                    return _loads(response.read(MAX_JSON_BYTES + 1))
                _copy_capped(response, path, self.max_bytes, self.image)
                return None
            except (OSError, http.client.HTTPException) as exc:
                raise SourceError(f"{address}: the answer about {self.image!r} broke off: {exc}") from None
        finally:
            conn.close()

    def _cli(self, command: str, path: str | None) -> Any:
        import io
        import shutil
        import subprocess
        import threading

        program = shutil.which(self.engine)
        if program is None:
            raise _Unreachable(f"no {self.engine} command on PATH")
        words = [program, "image", "inspect"] if command == "inspect" else [
            program, "save", *(["--format", "docker-archive"] if self.engine == "podman" else [])]
        with subprocess.Popen([*words, "--", self.image], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            stderr: list[bytes] = []
            reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read(64 * 1024)),  # type: ignore[union-attr]
                                      daemon=True)
            reader.start()
            out = io.BytesIO()
            try:
                if path is None:
                    out.write(proc.stdout.read(MAX_JSON_BYTES + 1))
                else:
                    _copy_capped(proc.stdout, path, self.max_bytes, self.image)
            except BaseException:
                proc.kill()
                raise
            finally:
                proc.stdout.close()
            code = proc.wait()
            reader.join(5)
        if code != 0:
            detail = b"".join(stderr).decode("utf-8", "replace").strip()
            raise SourceError(f"`{self.engine} {' '.join(words[1:])} {self.image}` failed (exit {code}): "
                              f"{_engine_message(detail)}")
        return _loads(out.getvalue()) if path is None else None

    def close(self) -> None:
        try:
            if self._archive is not None:
                self._archive.close()
        finally:
            if self._scratch is not None:
                self._scratch.close()


def _loads(data: bytes) -> Any:
    """The engine's JSON metadata (bounded); None when it is not JSON."""
    if len(data) > MAX_JSON_BYTES:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


class _Unreachable(Exception):
    """This way to the engine does not answer; the next one is tried."""


def engine_sockets(engine: str) -> list[str]:
    """The addresses (`unix://PATH` or `tcp://HOST:PORT`) the engine's CLI would use, most specific first.
    A unix socket that does not exist is left out; `ssh://` and TLS engines are left to the CLI."""
    found: list[str] = []
    if engine == "docker":
        host = os.environ.get("DOCKER_HOST")
        if host:
            if os.environ.get("DOCKER_TLS_VERIFY") or not host.startswith(("unix://", "tcp://")):
                return []  # TLS or ssh: only `docker save` knows the way
            found.append(host)
        else:
            found.append("unix:///var/run/docker.sock")
    else:
        host = os.environ.get("CONTAINER_HOST")
        if host:
            if not host.startswith("unix://"):
                return []
            found.append(host)
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime:
            found.append(f"unix://{runtime}/podman/podman.sock")
        found.append("unix:///run/podman/podman.sock")
    return [a for a in dict.fromkeys(found) if not a.startswith("unix://") or os.path.exists(a[len("unix://"):])]


def _copy_capped(stream: Any, path: str, limit: int, image: str) -> None:
    """Copy a stream to `path`, stopping with a SourceError past `limit` bytes (the file is then removed)."""
    total = 0
    with open(path, "wb") as out:
        while chunk := stream.read(1 << 20):
            total += len(chunk)
            if total > limit:
                out.close()
                os.unlink(path)
                raise SourceError(f"{image}: the exported image is larger than {limit} bytes "
                                  "(scanner_max_daemon_image_bytes)")
            out.write(chunk)


def _engine_message(detail: str) -> str:
    """The `message` of the engine's JSON error body, or the first line of its text."""
    try:
        doc = json.loads(detail)
        message = doc.get("message") if isinstance(doc, dict) else None
        if isinstance(message, str):
            return message[:300]
    except ValueError:
        pass
    return (detail.splitlines() or [""])[-1][:300]


def _daemon_limit() -> int:
    from hullscan.config import raw_settings

    try:
        value = raw_settings(("scanner_max_daemon_image_bytes",)).get("scanner_max_daemon_image_bytes")
        return int(value) if value else DEFAULT_MAX_DAEMON_IMAGE_BYTES
    except (ValueError, OSError) as exc:
        raise SourceError(f"invalid setting scanner_max_daemon_image_bytes: {exc}") from None


def _path_and_tag(spec: str) -> tuple[str, str | None]:
    if os.path.exists(spec) or ":" not in spec:
        return spec, None
    path, _, tag = spec.rpartition(":")
    return path, tag or None


def open_source(spec: str, *, insecure: bool = False, username: str | None = None, password: str | None = None,
                cache_dir: Path | None = None) -> ManifestSource | DirSource | DaemonSource:
    """The source for an IMAGE argument (see module docstring)."""
    scheme, sep, rest = spec.partition(":")
    if not sep:
        raise SourceError(f"{spec!r}: give a transport, e.g. docker://HOST/REPO:TAG or oci-dir:PATH")
    if scheme == "docker" and rest.startswith("//"):
        return RegistrySource(rest[2:], insecure=insecure, username=username, password=password)
    if scheme in ("oci-dir", "oci"):
        return OciDirSource(*_path_and_tag(rest))
    if scheme == "oci-archive":
        return OciArchiveSource(*_path_and_tag(rest))
    if scheme == "docker-archive":
        return DockerArchiveSource(*_path_and_tag(rest))
    if scheme in _ENGINES:
        return DaemonSource(_ENGINES[scheme], rest, cache_dir)
    if scheme == "dir":
        return DirSource(rest)
    raise SourceError(f"{spec!r}: unknown transport {scheme!r} (docker://, oci-dir:, oci-archive:, docker-archive:, "
                      "docker-daemon:, podman:, dir:)")

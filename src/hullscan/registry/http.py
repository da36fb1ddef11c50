"""OCI Distribution Specification v1.1 routes under `/v2/` (pull, push, content discovery and management).

Blob bodies stream straight from the socket to a temp file in large writes, hashed on the way, in a worker
thread; the database is touched once per blob (when it is verified), never per chunk, and no session is
held open while bytes flow.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from sqlalchemy.orm import Session
from starlette.requests import ClientDisconnect

from hullscan.auth import Action, Principal, current_principal, is_allowed
from hullscan.auth.http import registry_challenge
from hullscan.auth.principal import REGISTRY_ACTIONS
from hullscan.registry import service
from hullscan.registry.errors import RegistryError
from hullscan.registry.manifests import OCI_INDEX, parse_manifest
from hullscan.registry.names import compute_digest, is_digest, parse_digest, validate_name, validate_tag
from hullscan.registry.storage import BlobStorage, storage_for

router = APIRouter()
log = logging.getLogger("hullscan.registry")


class BlobFileResponse(FileResponse):
    """FileResponse (with its Range handling) reading 1 MiB per thread hop instead of 64 KiB."""

    chunk_size = 1 << 20

API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}
FLUSH_BYTES = 4 << 20  # write to disk in large pieces: fewer syscalls and thread hops
MAX_PAGE = 10000
_ASCII_NUMBER = re.compile(r"[0-9]+")
T = TypeVar("T")
# The pull gate the app installs (`app.state.pull_gate`; the policy part's): a refusal to answer, or None.
PullGate = Callable[[Session, Principal, service.StoredManifest, str, str, str | None], RegistryError | None]

ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^$"), "base"),
    (re.compile(r"^_catalog$"), "catalog"),
    (re.compile(r"^(?P<name>.+)/tags/list$"), "tags"),
    (re.compile(r"^(?P<name>.+)/manifests/(?P<reference>[^/]+)$"), "manifest"),
    (re.compile(r"^(?P<name>.+)/blobs/uploads/?$"), "upload_start"),
    (re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<upload>[^/]+)$"), "upload"),
    (re.compile(r"^(?P<name>.+)/blobs/(?P<digest>[^/]+)$"), "blob"),
    (re.compile(r"^(?P<name>.+)/referrers/(?P<digest>[^/]+)$"), "referrers"),
]


# -- plumbing --------------------------------------------------------------------------------------
def _storage(request: Request) -> BlobStorage:
    storage = getattr(request.app.state, "registry_storage", None)
    if storage is None:
        storage = storage_for(request.app.state.settings)
        request.app.state.registry_storage = storage
    return storage


async def _db(request: Request, fn: Callable[[Session], T]) -> T:
    """Run `fn` in one short transaction on a worker thread."""
    database = request.app.state.db

    def run() -> T:
        with database.session() as session:
            return fn(session)

    return await anyio.to_thread.run_sync(run)


def _error_response(exc: RegistryError, method: str) -> Response:
    headers = {**API_VERSION, **exc.headers}
    if method == "HEAD":
        return Response(status_code=exc.status, headers=headers)
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _public_host(settings: Any) -> str:
    """The registry's name in image references: from `public_url` (else host:port), never the client's Host
    header, so a repository pushed through any node of a cluster has one name."""
    if settings.public_url:
        return urlsplit(settings.public_url).netloc
    return f"{settings.host}:{settings.port}"


def _info(request: Request, principal: Principal) -> service.RequestInfo:
    client = request.client
    return service.RequestInfo(
        actor=principal.name, registry_host=_public_host(request.app.state.settings),
        client_addr=f"{client.host}:{client.port}" if client else None,
        user_agent=request.headers.get("user-agent"), scheme=request.url.scheme,
    )


def _allow(principal: Principal, action: Action, repository: str | None, request: Request | None = None) -> None:
    """Registry requests carry a registry token (or nothing): it alone says what may be done. Without a token
    the answer is the 401 Bearer challenge for the scope needed. With one that lacks the action, 403 DENIED
    carrying the challenge too, `scope=...,error="insufficient_scope"` (Distribution's challenge), so a client
    can fetch a token for that scope: oras-py refreshes its token only on a 403 (on a 401 it resends the token
    it holds), while skopeo, podman and docker ask for every scope up front."""
    if is_allowed(principal, action, repository=repository):
        return
    if request is None:
        raise RegistryError("DENIED", "requested access to the resource is denied")
    verb = REGISTRY_ACTIONS.get(action)
    verbs = "pull,push" if verb == "push" else verb  # a push also reads (blob mounts, HEAD checks), as Distribution
    scope = f"repository:{repository}:{verbs}" if repository and verbs else \
        "registry:catalog:*" if action is Action.REGISTRY_CATALOG else None
    anonymous = principal.is_anonymous or principal.credential == "anonymous"
    if anonymous:
        raise RegistryError("UNAUTHORIZED", "authentication required", status=401,
                            headers=registry_challenge(request, scope))
    raise RegistryError("DENIED", "the token does not grant the access this request needs",
                        headers=registry_challenge(request, scope, "insufficient_scope"))


def _page_args(request: Request) -> tuple[int | None, str | None]:
    raw_n, last = request.query_params.get("n"), request.query_params.get("last")
    n = None
    if raw_n is not None:
        if not _ASCII_NUMBER.fullmatch(raw_n):  # "²".isdigit() is true and int("²") fails
            raise RegistryError("UNSUPPORTED", "n must be a non-negative integer", status=400)
        n = min(int(raw_n[:12]) if len(raw_n) <= 12 else MAX_PAGE, MAX_PAGE)
    return n, last


def _next_link(path: str, n: int | None, items: list[str]) -> dict[str, str]:
    if n is None or n == 0 or len(items) < n:
        return {}
    return {"Link": f'<{path}?{urlencode({"n": n, "last": items[-1]})}>; rel="next"'}


def _upload_headers(name: str, upload_id: str, offset: int) -> dict[str, str]:
    return {
        **API_VERSION,
        "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
        "Range": f"0-{max(offset - 1, 0)}",
        "Docker-Upload-UUID": upload_id,
    }


def _parse_content_range(value: str) -> tuple[int, int]:
    m = re.fullmatch(r"(?:bytes[ =])?([0-9]{1,19})-([0-9]{1,19})(?:/(?:[0-9]{1,19}|\*))?", value.strip())
    if not m or int(m.group(2)) < int(m.group(1)):
        raise RegistryError("BLOB_UPLOAD_INVALID", f"invalid Content-Range {value[:64]!r}", status=416)
    return int(m.group(1)), int(m.group(2))


async def _receive(request: Request, storage: BlobStorage, name: str, upload_id: str,
                   finish: Callable[[], T] | None = None) -> tuple[int, T | None]:
    """Append the request body to an upload of `name`, checking Content-Range; returns the new offset and
    what `finish` (run right after the last write, e.g. commit the blob) returned.

    Thread hops are few: one opens the session (checked to belong to `name`), one per 4 MiB batch, one
    writes the last batch, closes and finishes. Body pieces are collected as they come from the server (no
    copying into a buffer) and handed over in batches; one batch is written and hashed on a worker thread
    while the next one arrives from the socket, so at most two batches are held."""

    def open_writer():  # type: ignore[no-untyped-def]
        info = storage.upload_info(upload_id)
        if info is None or info.repository != name:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"upload {upload_id[:64]!r} is not in progress for {name}")
        return storage.open_writer(upload_id)

    writer = await anyio.to_thread.run_sync(open_writer)
    open_ = True
    try:
        content_range = request.headers.get("content-range")
        expected_len = None
        if content_range:
            start, end = _parse_content_range(content_range)
            if start != writer.offset:
                raise RegistryError("BLOB_UPLOAD_INVALID",
                                    f"chunk starts at {start}, the upload has {writer.offset} bytes", status=416,
                                    headers=_upload_headers(name, upload_id, writer.offset))
            expected_len = end - start + 1
            declared = request.headers.get("content-length")
            if declared is not None and _ASCII_NUMBER.fullmatch(declared) and int(declared) != expected_len:
                raise RegistryError("BLOB_UPLOAD_INVALID",
                                    f"Content-Length {declared} does not match Content-Range {content_range}",
                                    status=416, headers=_upload_headers(name, upload_id, writer.offset))
        loop = asyncio.get_running_loop()
        pending: asyncio.Future[None] | None = None
        batch: list[bytes] = []
        batched = received = 0
        receive = request.receive
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                body = message.get("body", b"")
                if body:
                    batch.append(body)
                    batched += len(body)
                if not message.get("more_body", False):
                    break
                if batched >= FLUSH_BYTES:
                    if pending is not None:
                        await pending
                    pending = loop.run_in_executor(None, writer.write_many, batch)
                    received += batched
                    batch, batched = [], 0
        except ClientDisconnect:
            raise RegistryError("BLOB_UPLOAD_INVALID", "client disconnected during upload") from None
        finally:
            if pending is not None:
                await pending
        received += batched
        if expected_len is not None and received != expected_len:
            if batch:
                await anyio.to_thread.run_sync(writer.write_many, batch)
            raise RegistryError("SIZE_INVALID", f"chunk has {received} bytes, Content-Range announced {expected_len}")

        def last() -> tuple[int, T | None]:
            nonlocal open_
            writer.write_many(batch)
            open_ = False
            writer.close()
            return writer.offset, finish() if finish is not None else None

        return await anyio.to_thread.run_sync(last)
    finally:
        if open_:
            await anyio.to_thread.run_sync(writer.close)


async def _upload_of(request: Request, storage: BlobStorage, name: str, upload_id: str):  # type: ignore[no-untyped-def]
    info = await anyio.to_thread.run_sync(storage.upload_info, upload_id)
    if info is None or info.repository != name:
        raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"upload {upload_id[:64]!r} is not in progress for {name}")
    return info


def _finisher(request: Request, storage: BlobStorage, name: str, upload_id: str,
              digest_param: str | None) -> Callable[[], int]:
    """Verify and publish the upload, then record the blob for `name`: blocking, run on the worker thread
    that wrote the last bytes (no extra hops)."""
    if not digest_param:
        raise RegistryError("DIGEST_INVALID", "the digest query parameter is required to finish an upload")
    digest = parse_digest(digest_param)
    settings = request.app.state.settings
    database = request.app.state.db

    def finish() -> int:
        size = storage.commit_upload(upload_id, digest)
        with database.session() as session:
            repo = service.push_repository(session, name, auto_create_projects=settings.registry_auto_create_projects)
            service.link_blob(session, repo, str(digest), size)
        return size

    return finish


def _created(name: str, digest: str) -> Response:
    return Response(status_code=201, headers={**API_VERSION, "Location": f"/v2/{name}/blobs/{digest}",
                                              "Docker-Content-Digest": digest, "Content-Length": "0"})


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_big = RegistryError("MANIFEST_INVALID", f"manifest exceeds the limit of {limit} bytes", status=413)
    if declared is not None and _ASCII_NUMBER.fullmatch(declared) and int(declared) > limit:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_big
    return bytes(body)


# -- handlers --------------------------------------------------------------------------------------
async def _catalog(request: Request, principal: Principal) -> Response:
    _allow(principal, Action.REGISTRY_CATALOG, None, request)
    n, last = _page_args(request)
    repos = await _db(request, lambda s: service.list_repositories(s, n, last))
    return JSONResponse({"repositories": repos}, headers={**API_VERSION, **_next_link("/v2/_catalog", n, repos)})


async def _tags(request: Request, principal: Principal, name: str) -> Response:
    _allow(principal, Action.REGISTRY_PULL, name, request)
    n, last = _page_args(request)
    tags = await _db(request, lambda s: service.list_tags(s, name, n, last))
    return JSONResponse({"name": name, "tags": tags},
                        headers={**API_VERSION, **_next_link(f"/v2/{name}/tags/list", n, tags)})


async def _manifest(request: Request, principal: Principal, name: str, reference: str) -> Response:
    method = request.method
    validate_name(name)
    if is_digest(reference):
        parse_digest(reference)
    else:
        validate_tag(reference)
    if method in ("GET", "HEAD"):
        _allow(principal, Action.REGISTRY_PULL, name, request)
        gate: PullGate | None = getattr(request.app.state, "pull_gate", None)
        client_ip = request.client.host if request.client else None

        def fetch(s: Session) -> tuple[service.StoredManifest, RegistryError | None]:
            found = service.get_manifest(s, name, reference)  # the gate's refusal is audited in this transaction
            return found, gate(s, principal, found, reference, method, client_ip) if gate is not None else None

        m, refused = await _db(request, fetch)
        if refused is not None:
            raise refused
        headers = {**API_VERSION, "Docker-Content-Digest": m.digest, "Content-Type": m.media_type,
                   "Content-Length": str(m.size)}
        return Response(m.content if method == "GET" else b"", headers=headers)
    if method == "PUT":
        _allow(principal, Action.REGISTRY_PUSH, name, request)
        settings = request.app.state.settings
        body = await _read_limited(request, settings.registry_max_manifest_bytes)
        content_type = request.headers.get("content-type")
        parsed = await anyio.to_thread.run_sync(parse_manifest, body, content_type)
        if is_digest(reference):
            wanted = parse_digest(reference)
            digest = compute_digest(body, wanted.algorithm)
            if digest != reference:
                raise RegistryError("DIGEST_INVALID", f"manifest digest is {digest}, not {reference}",
                                    detail={"digest": reference})
        else:
            digest = compute_digest(body)
        info = _info(request, principal)
        await _db(request, lambda s: service.put_manifest(
            s, repository=name, reference=reference, body=body, digest=digest, parsed=parsed, info=info,
            auto_create_projects=settings.registry_auto_create_projects))
        log.info("manifest pushed", extra={"fields": {
            "repository": name, "reference": reference, "digest": digest, "media_type": parsed.media_type,
            "size": len(body), "actor": info.actor}})
        headers = {**API_VERSION, "Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest,
                   "Content-Length": "0"}
        if parsed.subject is not None:
            headers["OCI-Subject"] = parsed.subject.digest
        return Response(status_code=201, headers=headers)
    if method == "DELETE":
        _allow(principal, Action.REGISTRY_DELETE, name, request)
        info = _info(request, principal)
        digest = await _db(request, lambda s: service.delete_manifest(s, name, reference, info))
        log.info("manifest deleted", extra={"fields": {
            "repository": name, "reference": reference, "digest": digest, "actor": info.actor}})
        return Response(status_code=202, headers={**API_VERSION, "Content-Length": "0"})
    raise _method_not_allowed(method)


async def _blob(request: Request, principal: Principal, name: str, digest: str) -> Response:
    method = request.method
    validate_name(name)
    parse_digest(digest)
    storage = _storage(request)
    if method in ("GET", "HEAD"):
        _allow(principal, Action.REGISTRY_PULL, name, request)
        size = await _db(request, lambda s: service.blob_size(s, name, digest))
        path = storage.local_path(digest) if size is not None else None
        if size is None or (path is None and await anyio.to_thread.run_sync(storage.stat, digest) is None):
            raise RegistryError("BLOB_UNKNOWN", f"blob {digest} is not in {name}", detail={"digest": digest})
        headers = {**API_VERSION, "Docker-Content-Digest": digest, "Accept-Ranges": "bytes",
                   "Cache-Control": "max-age=31536000"}
        if method == "HEAD":
            return Response(headers={**headers, "Content-Length": str(size),
                                     "Content-Type": "application/octet-stream"})
        if _screen_range(request, size) and path is None:
            request.scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"range"]
        if path is not None:
            return BlobFileResponse(path, media_type="application/octet-stream", headers=headers)
        url = await anyio.to_thread.run_sync(storage.redirect_url, digest)
        if url is not None:  # object storage serves the bytes (pre-signed URL), as Distribution's redirect
            return Response(status_code=307, headers={**API_VERSION, "Location": url,
                                                      "Docker-Content-Digest": digest, "Content-Length": "0"})
        handle = await anyio.to_thread.run_sync(storage.open, digest)
        del headers["Accept-Ranges"]  # streamed from object storage: whole blobs only
        return StreamingResponse(_iter_file(handle), media_type="application/octet-stream",
                                 headers={**headers, "Content-Length": str(size)})
    if method == "DELETE":
        _allow(principal, Action.REGISTRY_DELETE, name, request)
        if not await _db(request, lambda s: service.unlink_blob(s, name, digest)):
            raise RegistryError("BLOB_UNKNOWN", f"blob {digest} is not in {name}", detail={"digest": digest})
        return Response(status_code=202, headers={**API_VERSION, "Content-Length": "0"})
    raise _method_not_allowed(method)


_RANGE_SPEC = re.compile(r"\s*([0-9]{0,19})\s*-\s*([0-9]{0,19})\s*")


def _screen_range(request: Request, size: int) -> bool:
    """RFC 9110 §14.2 for a blob GET: a Range the server cannot parse is ignored (the whole blob is sent, here
    by dropping the header); byte ranges that are invalid (`5-2`) or beyond the blob are 416 with
    `Content-Range: bytes */<size>` and an OCI error body (the spec has no code for it: UNSUPPORTED).
    Returns whether a usable Range is left for the response to serve."""
    value = request.headers.get("range")
    if value is None:
        return False
    unit, sep, specs = value.partition("=")
    found = [_RANGE_SPEC.fullmatch(spec) for spec in specs.split(",")] if sep and len(value) <= 4096 else [None]
    parsed = [m for m in found if m is not None]
    if unit.strip().lower() != "bytes" or len(parsed) != len(found) or any(m.group(1) == m.group(2) == "" for m in parsed):
        request.scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"range"]
        return False
    def satisfiable(first: str, last: str) -> bool:
        if first:
            return int(first) < size and (not last or int(last) >= int(first))
        return size > 0 and int(last) > 0

    if not all(satisfiable(m.group(1), m.group(2)) for m in parsed):  # as the file response judges each range
        raise RegistryError("UNSUPPORTED", f"range {value[:64]!r} is not satisfiable for {size} bytes",
                            status=416, headers={"Content-Range": f"bytes */{size}"})
    return True


async def _iter_file(handle: Any):  # type: ignore[no-untyped-def]
    try:
        while chunk := await anyio.to_thread.run_sync(handle.read, 1 << 20):
            yield chunk
    finally:
        handle.close()


async def _upload_start(request: Request, principal: Principal, name: str) -> Response:
    if request.method != "POST":
        raise _method_not_allowed(request.method)
    _allow(principal, Action.REGISTRY_PUSH, name, request)
    validate_name(name)
    settings = request.app.state.settings
    storage = _storage(request)
    q = request.query_params
    mount, source = q.get("mount"), q.get("from")
    repo = await _db(request, lambda s: service.push_repository(
        s, name, auto_create_projects=settings.registry_auto_create_projects))
    if mount:
        parse_digest(mount)
        # A mount from a repository the token may not pull from falls back to a plain upload (spec: 202).
        if source and is_allowed(principal, Action.REGISTRY_PULL, repository=source):
            validate_name(source)
            size = await _db(request, lambda s: service.mount_blob(s, repo, source, mount))
            if size is not None and await anyio.to_thread.run_sync(storage.stat, mount) is not None:
                return Response(status_code=201, headers={
                    **API_VERSION, "Location": f"/v2/{name}/blobs/{mount}", "Docker-Content-Digest": mount,
                    "Content-Length": "0"})
    digest_param = q.get("digest")
    if digest_param is not None:
        parse_digest(digest_param)
    upload_id = await anyio.to_thread.run_sync(storage.start_upload, name)
    if digest_param is not None:  # monolithic upload: the body is the whole blob
        try:
            await _receive(request, storage, name, upload_id,
                           _finisher(request, storage, name, upload_id, digest_param))
            return _created(name, str(parse_digest(digest_param)))
        except BaseException:
            await anyio.to_thread.run_sync(storage.cancel_upload, upload_id)
            raise
    return Response(status_code=202, headers={**_upload_headers(name, upload_id, 0), "Content-Length": "0",
                                              "OCI-Chunk-Min-Length": "0"})


async def _upload(request: Request, principal: Principal, name: str, upload_id: str) -> Response:
    method = request.method
    validate_name(name)
    storage = _storage(request)
    _allow(principal, Action.REGISTRY_PUSH, name, request)
    if method == "PATCH":  # _receive checks the session in the same thread hop that opens it
        offset, _ = await _receive(request, storage, name, upload_id)
        return Response(status_code=202, headers={**_upload_headers(name, upload_id, offset), "Content-Length": "0"})
    if method == "PUT":
        digest_param = request.query_params.get("digest", "")  # _finisher refuses it empty
        finish = _finisher(request, storage, name, upload_id, digest_param)
        await _receive(request, storage, name, upload_id, finish)
        return _created(name, str(parse_digest(digest_param)))
    info = await _upload_of(request, storage, name, upload_id)
    if method == "GET":
        return Response(status_code=204, headers=_upload_headers(name, upload_id, info.size))
    if method == "DELETE":
        await anyio.to_thread.run_sync(storage.cancel_upload, upload_id)
        return Response(status_code=204, headers={**API_VERSION, "Content-Length": "0"})
    raise _method_not_allowed(method)


async def _referrers(request: Request, principal: Principal, name: str, digest: str) -> Response:
    if request.method not in ("GET", "HEAD"):
        raise _method_not_allowed(request.method)
    validate_name(name)
    _allow(principal, Action.REGISTRY_PULL, name, request)
    artifact_type = request.query_params.get("artifactType")
    manifests = await _db(request, lambda s: service.list_referrers(s, name, digest, artifact_type))
    headers = {**API_VERSION}
    if artifact_type:
        headers["OCI-Filters-Applied"] = "artifactType"
    return JSONResponse({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests},
                        media_type=OCI_INDEX, headers=headers)


def _method_not_allowed(method: str) -> RegistryError:
    return RegistryError("UNSUPPORTED", f"method {method} is not allowed here", status=405)


@router.api_route("/v2/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                  include_in_schema=False)
async def registry(request: Request, path: str, principal: Principal = Depends(current_principal)) -> Response:
    """Dispatch an OCI Distribution request; repository names contain slashes, so routes are matched here."""
    # The path from the scope, not the route's parameter: the route's `$` matches before a final "\n", so
    # `/v2/a/b/manifests/tag%0a` would arrive as the tag "tag".
    path = request.scope["path"].removeprefix("/v2/") if request.scope["path"] != "/v2" else ""
    try:
        for pattern, kind in ROUTES:
            m = pattern.fullmatch(path)  # not match: "$" also matches before a final "\n"
            if m is None:
                continue
            g = m.groupdict()
            if g.get("name"):
                validate_name(g["name"])  # before authorization: a malformed name is a 400 for anyone
                if "/" not in g["name"]:
                    raise RegistryError("NAME_INVALID", "a repository name needs a <namespace>/<project> prefix")
            if kind == "base":
                if principal.is_anonymous:
                    raise RegistryError("UNAUTHORIZED", "authentication required", status=401,
                                        headers=registry_challenge(request))
                return JSONResponse({}, headers=API_VERSION)
            if kind == "catalog":
                return await _catalog(request, principal)
            if kind == "tags":
                return await _tags(request, principal, g["name"])
            if kind == "manifest":
                return await _manifest(request, principal, g["name"], g["reference"])
            if kind == "upload_start":
                return await _upload_start(request, principal, g["name"])
            if kind == "upload":
                return await _upload(request, principal, g["name"], g["upload"])
            if kind == "blob":
                return await _blob(request, principal, g["name"], g["digest"])
            if kind == "referrers":
                return await _referrers(request, principal, g["name"], g["digest"])
        raise RegistryError("NAME_UNKNOWN", f"no registry endpoint at /v2/{quote(path[:200])}", status=404)
    except RegistryError as exc:
        return _error_response(exc, request.method)

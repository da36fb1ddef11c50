"""OCI Distribution pull client, shared by the scanner and the runner.

Anonymous, Basic and Bearer-token auth driven by the registry's `WWW-Authenticate` challenge; credentials
from arguments, `HULLSCAN_REGISTRY_USERNAME`/`_PASSWORD`, or `~/.docker/config.json`; plain HTTP with
`insecure`. Manifests are size-capped and digest-verified; blobs stream through a reader that verifies the
digest once the last byte is read.

Built on the standard library's `http.client` rather than httpx: a scan job is a short process, and httpx's
import alone (it pulls in its CLI's rich/click/pygments when they are installed) cost more CPU than a whole
warm scan. Connections are kept alive and reused per origin (one per thread at a time), redirects are
followed (Authorization is dropped when a redirect leaves the registry's origin, as blob storage redirects
do), and `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` are honoured as httpx did.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlencode, urljoin, urlsplit

from hullscan.mediatypes import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST

MANIFEST_TYPES = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])  # the Accept header
MAX_MANIFEST_BYTES = 4 << 20
MAX_ERROR_BODY = 64 << 10  # an error body up to this size is read so the connection can be reused
MAX_REDIRECTS = 10
MAX_PAGES = 1000  # of a catalog or tag list
_NEXT_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')
DOCKER_HUB = "registry-1.docker.io"
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_REFERENCE = re.compile(r"^(?P<name>[^@]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[a-z0-9]+:[a-fA-F0-9]+))?$")


class RegistryClientError(Exception):
    """A registry refused, failed, or sent something that does not match its digest."""


@dataclass(frozen=True)
class ImageReference:
    host: str  # as the user wrote it (docker.io for Docker Hub)
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def api_host(self) -> str:
        return DOCKER_HUB if self.host in ("docker.io", "index.docker.io") else self.host

    @property
    def name(self) -> str:
        return f"{self.host}/{self.repository}"

    @property
    def reference(self) -> str:
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = self.name + (f":{self.tag}" if self.tag else "")
        return text + (f"@{self.digest}" if self.digest else "")


def parse_reference(text: str) -> ImageReference:
    """`HOST/REPO[:TAG][@DIGEST]`; a first component without `.`/`:` (and not localhost) means Docker Hub."""
    match = _REFERENCE.match(text.strip())
    if not match:
        raise ValueError(f"not an image reference: {text!r}")
    name = match["name"]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, repository = first, rest
    else:
        host, repository = "docker.io", name
        if "/" not in repository:
            repository = f"library/{repository}"
    if not re.fullmatch(r"[a-z0-9]+(?:[._/-][a-z0-9]+|__)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*", repository):
        raise ValueError(f"invalid repository name: {repository!r}")
    tag = match["tag"]
    return ImageReference(host=host, repository=repository, tag=tag if tag or match["digest"] else "latest",
                          digest=match["digest"])


def docker_config_credentials(host: str, config_path: Path | None = None) -> tuple[str, str] | None:
    """Username and password for `host` from `~/.docker/config.json` (`auths.<host>.auth`), if any."""
    path = config_path or Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "config.json"
    try:
        auths = json.loads(path.read_text()).get("auths", {})
    except (OSError, ValueError, AttributeError):
        return None
    candidates = [host, f"https://{host}", f"http://{host}"]
    if host in ("docker.io", DOCKER_HUB, "index.docker.io"):
        candidates += ["https://index.docker.io/v1/", "index.docker.io", "docker.io"]
    for key in candidates:
        entry = auths.get(key) if isinstance(auths, dict) else None
        if isinstance(entry, dict):
            if entry.get("auth"):
                try:
                    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
                    return user, password
                except (ValueError, UnicodeDecodeError):
                    return None
            if entry.get("username"):
                return entry["username"], entry.get("password", "")
    return None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass
class Manifest:
    data: bytes
    media_type: str
    digest: str

    def json(self) -> dict:
        doc = json.loads(self.data)
        if not isinstance(doc, dict):
            raise RegistryClientError("manifest is not a JSON object")
        return doc


# -- connections -------------------------------------------------------------------------------------
Origin = tuple[str, str, int]  # scheme, host, port


def _origin(url: str) -> Origin:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RegistryClientError(f"unsupported URL {url[:200]!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RegistryClientError(f"bad port in URL {url[:200]!r}") from None
    return parts.scheme, parts.hostname, port


def _target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _env(name: str) -> str:
    return os.environ.get(name.lower()) or os.environ.get(name.upper()) or ""


def _bypasses_proxy(host: str, port: int) -> bool:
    """NO_PROXY: `*`, or comma-separated hosts/domains (`.example.com` or `example.com` match subdomains)."""
    for entry in (e.strip().lower() for e in _env("no_proxy").split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.partition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name.lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


def _proxy_for(scheme: str, host: str, port: int) -> str | None:
    proxy = _env(f"{scheme}_proxy") or _env("all_proxy")
    if not proxy or _bypasses_proxy(host.lower(), port):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


class _Conn:
    """A kept-alive connection and how requests go over it."""

    def __init__(self, http_conn: http.client.HTTPConnection, absolute: bool = False,
                 proxy_headers: dict[str, str] | None = None) -> None:
        self.http = http_conn
        self.absolute = absolute  # plain HTTP through a proxy: the request line carries the full URL
        self.proxy_headers = proxy_headers or {}

    def close(self) -> None:
        self.http.close()


class _Connections:
    """Idle keep-alive connections per origin. A connection serves one request at a time; threads that
    walk layers in parallel each take their own."""

    def __init__(self, timeout: float, insecure: bool, user_agent: str) -> None:
        self.timeout, self.insecure, self.user_agent = timeout, insecure, user_agent
        self._idle: dict[Origin, list[_Conn]] = {}
        self._lock = threading.Lock()
        self._tls = None

    def tls(self):  # noqa: ANN201 - ssl.SSLContext, imported lazily
        """The system trust store (honours SSL_CERT_FILE/SSL_CERT_DIR, so a self-hosted registry's CA
        works), or no verification for `insecure`."""
        if self._tls is None:
            import ssl

            if self.insecure:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            else:
                context = ssl.create_default_context()
            self._tls = context
        return self._tls

    def take(self, origin: Origin) -> tuple[_Conn, bool]:
        """A connection to `origin` and whether it was used before (an idle one may have been closed)."""
        with self._lock:
            idle = self._idle.get(origin)
            if idle:
                return idle.pop(), True
        return self._connect(origin), False

    def _connect(self, origin: Origin) -> _Conn:
        scheme, host, port = origin
        proxy = _proxy_for(scheme, host, port)
        if proxy is None:
            if scheme == "https":
                return _Conn(http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self.tls()))
            return _Conn(http.client.HTTPConnection(host, port, timeout=self.timeout))
        p = urlsplit(proxy)
        if not p.hostname:
            raise RegistryClientError(f"bad proxy URL {proxy[:200]!r}")
        proxy_port = p.port or (443 if p.scheme == "https" else 80)
        auth = {"Proxy-Authorization": _basic(unquote(p.username), unquote(p.password or ""))} if p.username else {}
        conn: http.client.HTTPConnection
        if p.scheme == "https":
            conn = http.client.HTTPSConnection(p.hostname, proxy_port, timeout=self.timeout, context=self.tls())
        else:
            conn = http.client.HTTPConnection(p.hostname, proxy_port, timeout=self.timeout)
        if scheme == "https":
            conn.set_tunnel(host, port, headers=auth or None)
            return _Conn(conn)
        return _Conn(conn, absolute=True, proxy_headers=auth)

    def give_back(self, origin: Origin, conn: _Conn) -> None:
        with self._lock:
            self._idle.setdefault(origin, []).append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


class Response:
    """One HTTP response: status, headers, and the body read incrementally. `close()` returns the connection
    for reuse when the body was read to its end, else closes it."""

    def __init__(self, url: str, origin: Origin, conn: _Conn, raw: http.client.HTTPResponse,
                 pool: _Connections) -> None:
        self.url, self._origin, self._conn, self._raw, self._pool = url, origin, conn, raw, pool
        self.status_code = raw.status
        self.headers = raw.headers  # case-insensitive .get()
        self._closed = False

    def read(self, size: int | None = -1) -> bytes:
        if self._closed:
            return b""
        try:
            return self._raw.read(None if size is None or size < 0 else size)
        except http.client.HTTPException as exc:
            raise RegistryClientError(f"{self.url}: {type(exc).__name__}: {exc}") from None

    def read_limited(self, limit: int, what: str) -> bytes:
        declared = self.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise RegistryClientError(f"{what} is over {limit} bytes")
        data = self.read(limit + 1)
        if len(data) > limit:
            raise RegistryClientError(f"{what} is over {limit} bytes")
        return data

    def json(self, limit: int = MAX_MANIFEST_BYTES) -> dict:
        try:
            body = json.loads(self.read_limited(limit, self.url))
        except ValueError:
            raise RegistryClientError(f"{self.url}: answer is not JSON") from None
        if not isinstance(body, dict):
            raise RegistryClientError(f"{self.url}: answer is not a JSON object")
        return body

    def readable(self) -> bool:
        return True

    def discard(self) -> None:
        """Read away a small remaining body (an error page) so the connection stays reusable, then close."""
        if not self._closed and not self._raw.isclosed():
            declared = self.headers.get("Content-Length")
            if not (declared and declared.isdigit() and int(declared) > MAX_ERROR_BODY):
                try:
                    self._raw.read(MAX_ERROR_BODY)
                except (OSError, http.client.HTTPException):
                    pass
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._raw.isclosed() and not self._raw.will_close:
            self._pool.give_back(self._origin, self._conn)  # body fully read: keep the connection
        else:
            self._raw.close()
            self._conn.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VerifyingStream:
    """File-like view of a blob response that checks the digest at EOF (raises RegistryClientError on mismatch)."""

    verifies_digest = True  # readers need not hash it again

    def __init__(self, response: Response, digest: str) -> None:
        self.response, self.digest = response, digest
        algo, _, self.expected = digest.partition(":")
        if algo != "sha256":
            raise RegistryClientError(f"unsupported digest algorithm {algo}")
        self.sha = hashlib.sha256()
        self.eof = False
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        if self.eof or size == 0:
            return b""
        data = self.response.read(size)
        if data:
            self.sha.update(data)
            self.bytes_read += len(data)
        if not data or size is None or size < 0:
            self.eof = True
            if self.sha.hexdigest() != self.expected:
                raise RegistryClientError(f"blob {self.digest}: content does not match its digest")
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> VerifyingStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RegistryClient:
    """Pulls manifests and blobs from one registry host."""

    def __init__(self, host: str, *, insecure: bool = False, username: str | None = None,
                 password: str | None = None, timeout: float = 60.0, docker_config: Path | None = None) -> None:
        self.host = DOCKER_HUB if host in ("docker.io", "index.docker.io") else host
        self.base = f"{'http' if insecure else 'https'}://{self.host}"
        if username is None and os.environ.get("HULLSCAN_REGISTRY_USERNAME"):
            username = os.environ["HULLSCAN_REGISTRY_USERNAME"]
            password = os.environ.get("HULLSCAN_REGISTRY_PASSWORD", "")
        if username is None:
            creds = docker_config_credentials(host, docker_config)
            if creds:
                username, password = creds
        self.credentials = (username, password or "") if username is not None else None
        self.token = os.environ.get("HULLSCAN_REGISTRY_TOKEN") or None  # `--registry-token`: sent as it is
        from hullscan import __version__

        self.connections = _Connections(timeout, insecure, f"hullscan/{__version__}")
        self.authorization: dict[str, str] = {}  # scope -> Authorization header value

    def close(self) -> None:
        self.connections.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP ----------------------------------------------------------------------------------------
    def _send_once(self, method: str, url: str, headers: dict[str, str]) -> Response:
        origin = _origin(url)
        for attempt in range(2):
            conn, reused = self.connections.take(origin)
            all_headers = {"User-Agent": self.connections.user_agent, **headers, **conn.proxy_headers}
            try:
                conn.http.request(method, url if conn.absolute else _target(url), headers=all_headers)
                raw = conn.http.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if reused and attempt == 0:
                    continue  # the server closed an idle keep-alive connection: once more on a new one
                if isinstance(exc, OSError):
                    raise
                raise RegistryClientError(f"{url}: {type(exc).__name__}: {exc}") from None
            return Response(url, origin, conn, raw, self.connections)
        raise AssertionError("unreachable")

    def _send(self, method: str, url: str, headers: dict[str, str]) -> Response:
        """One request, following redirects; Authorization is sent only to the origin it was meant for."""
        start = _origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send_once(method, url, headers)
            if response.status_code not in (301, 302, 303, 307, 308) or not response.headers.get("Location"):
                return response
            response.discard()
            url = urljoin(url, response.headers["Location"])
            if _origin(url) != start:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            if response.status_code == 303:
                method = "GET"
        raise RegistryClientError(f"too many redirects from {url[:200]}")

    def _authorize(self, response: Response, scope: str) -> bool:
        """Answer a 401 challenge; True when a new Authorization value is worth a retry."""
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            if not self.credentials:
                return False
            value = _basic(*self.credentials)
        elif scheme == "bearer" and self.token:
            value = f"Bearer {self.token}"
        elif scheme == "bearer" and params.get("realm"):
            query = {k: v for k, v in (("service", params.get("service")), ("scope", params.get("scope") or scope)) if v}
            realm = params["realm"]
            url = realm + ("&" if "?" in realm else "?") + urlencode(query) if query else realm
            headers = {"Authorization": _basic(*self.credentials)} if self.credentials else {}
            with self._send("GET", url, headers) as reply:
                if reply.status_code != 200:
                    reply.discard()
                    raise RegistryClientError(f"token endpoint {realm} answered {reply.status_code}")
                body = reply.json()
            token = body.get("token") or body.get("access_token")
            if not token or not isinstance(token, str):
                raise RegistryClientError("token endpoint returned no token")
            value = f"Bearer {token}"
        else:
            return False
        if self.authorization.get(scope) == value:
            return False
        self.authorization[scope] = value
        return True

    def _request(self, method: str, repository: str, path: str, headers: dict[str, str]) -> Response:
        return self._request_url(method, f"{self.base}/v2/{repository}/{path}", f"repository:{repository}:pull",
                                 headers)

    def _request_url(self, method: str, url: str, scope: str, headers: dict[str, str]) -> Response:
        for _ in range(3):
            merged = dict(headers)
            if scope in self.authorization:
                merged["Authorization"] = self.authorization[scope]
            response = self._send(method, url, merged)
            if response.status_code == 401 and self._authorize(response, scope):
                response.discard()
                continue
            return response
        return response

    # -- API -----------------------------------------------------------------------------------------
    def get_manifest(self, repository: str, reference: str) -> Manifest:
        with self._request("GET", repository, f"manifests/{reference}", {"Accept": MANIFEST_TYPES}) as response:
            if response.status_code != 200:
                response.discard()
                raise RegistryClientError(f"manifest {repository}:{reference}: HTTP {response.status_code}")
            data = response.read_limited(MAX_MANIFEST_BYTES, f"manifest {repository}:{reference}")
            media_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and reference != digest:
            raise RegistryClientError(f"manifest {reference}: content does not match its digest")
        try:
            media_type = json.loads(data).get("mediaType") or media_type
        except (ValueError, AttributeError):
            raise RegistryClientError(f"manifest {repository}:{reference} is not JSON") from None
        return Manifest(data=data, media_type=media_type, digest=digest)

    def head_manifest(self, repository: str, reference: str) -> tuple[str, str | None] | None:
        """(digest, media type) of a tag or digest, without its body; None when the registry does not have it."""
        with self._request("HEAD", repository, f"manifests/{reference}", {"Accept": MANIFEST_TYPES}) as response:
            response.discard()
            digest = response.headers.get("Docker-Content-Digest")
            if response.status_code not in (200, 404):
                raise RegistryClientError(f"manifest {repository}:{reference}: HTTP {response.status_code}")
            if response.status_code == 404 or not digest:
                return None
            return digest, response.headers.get("Content-Type")

    def catalog(self, page: int = 1000) -> Iterator[str]:
        """Every repository name (Distribution's `_catalog`, following `Link: rel="next"` pages)."""
        return self._pages(f"{self.base}/v2/_catalog?n={page}", "registry:catalog:*", "repositories")

    def tags(self, repository: str, page: int = 1000) -> Iterator[str]:
        """Every tag of `repository` (none when the repository is gone)."""
        return self._pages(f"{self.base}/v2/{repository}/tags/list?n={page}", f"repository:{repository}:pull", "tags")

    def _pages(self, url: str, scope: str, key: str) -> Iterator[str]:
        for _ in range(MAX_PAGES):
            with self._request_url("GET", url, scope, {"Accept": "application/json"}) as response:
                if response.status_code == 404 and key == "tags":
                    response.discard()
                    return
                if response.status_code != 200:
                    response.discard()
                    raise RegistryClientError(f"GET {url}: HTTP {response.status_code}")
                body = response.json()
                link = response.headers.get("Link") or ""
            items = body.get(key) or []
            if not isinstance(items, list):
                raise RegistryClientError(f"GET {url}: {key} is not a list")
            yield from (i for i in items if isinstance(i, str))
            found = _NEXT_LINK.search(link)
            if not found:
                return
            url = urljoin(url, found.group(1))
            if _origin(url) != _origin(self.base):
                raise RegistryClientError(f"pagination of {self.host} leads to another origin")
        raise RegistryClientError(f"{self.host}: more than {MAX_PAGES} pages")

    def open_blob(self, repository: str, digest: str, *, verify: bool = True) -> VerifyingStream | Response:
        """A streaming reader of one blob; close it (or use `with`). With `verify` it checks the digest at
        EOF; without, the caller hashes what it reads (the layer walker does, on a thread of its own)."""
        response = self._request("GET", repository, f"blobs/{digest}", {})
        if response.status_code != 200:
            response.discard()
            raise RegistryClientError(f"blob {repository}@{digest}: HTTP {response.status_code}")
        return VerifyingStream(response, digest) if verify else response

    def get_blob(self, repository: str, digest: str, max_bytes: int = MAX_MANIFEST_BYTES) -> bytes:
        with self.open_blob(repository, digest) as stream:
            data = bytearray()
            while chunk := stream.read(1 << 20):
                data += chunk
                if len(data) > max_bytes:
                    raise RegistryClientError(f"blob {digest} is over {max_bytes} bytes")
            return bytes(data)

"""OCI Distribution pull client, shared by the scanner and the runner.

Anonymous, Basic and Bearer-token auth driven by the registry's `WWW-Authenticate` challenge; credentials
from arguments, `HULLSCAN_REGISTRY_USERNAME`/`_PASSWORD`, or `~/.docker/config.json`; plain HTTP with
`insecure`. Manifests are size-capped and digest-verified; blobs stream through a reader that verifies the
digest once the last byte is read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
MAX_MANIFEST_BYTES = 4 << 20
DOCKER_HUB = "registry-1.docker.io"
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_REFERENCE = re.compile(r"^(?P<name>[^@]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[a-z0-9]+:[a-fA-F0-9]+))?$")


class RegistryError(Exception):
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


@dataclass
class Manifest:
    data: bytes
    media_type: str
    digest: str

    def json(self) -> dict:
        doc = json.loads(self.data)
        if not isinstance(doc, dict):
            raise RegistryError("manifest is not a JSON object")
        return doc


class VerifyingStream:
    """File-like view of a blob response that checks the digest at EOF (raises RegistryError on mismatch)."""

    verifies_digest = True  # readers need not hash it again

    def __init__(self, response: httpx.Response, digest: str) -> None:
        self.response, self.digest = response, digest
        algo, _, self.expected = digest.partition(":")
        if algo != "sha256":
            raise RegistryError(f"unsupported digest algorithm {algo}")
        self.sha = hashlib.sha256()
        self.chunks: Iterator[bytes] = response.iter_bytes(1 << 20)
        self.buffer = b""
        self.eof = False
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        while not self.eof and (size < 0 or len(self.buffer) < size):
            try:
                chunk = next(self.chunks)
            except StopIteration:
                self.eof = True
                if self.sha.hexdigest() != self.expected:
                    raise RegistryError(f"blob {self.digest}: content does not match its digest") from None
                break
            self.sha.update(chunk)
            self.bytes_read += len(chunk)
            self.buffer += chunk
        if size < 0:
            data, self.buffer = self.buffer, b""
        else:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> VerifyingStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _tls_context(insecure: bool):
    """The system trust store (honours SSL_CERT_FILE/SSL_CERT_DIR, so a self-hosted registry's CA works),
    or no verification for `insecure`; built here because httpx's default loads a CA bundle on every start."""
    import ssl

    if not insecure:
        return ssl.create_default_context()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


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
        from hullscan import __version__

        self.http = httpx.Client(timeout=timeout, follow_redirects=True, verify=_tls_context(insecure),
                                 headers={"User-Agent": f"hullscan/{__version__}"})
        self.authorization: dict[str, str] = {}  # scope -> Authorization header value

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _authorize(self, response: httpx.Response, scope: str) -> bool:
        """Answer a 401 challenge; True when a new Authorization value is worth a retry."""
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            if not self.credentials:
                return False
            token = base64.b64encode(":".join(self.credentials).encode()).decode()
            value = f"Basic {token}"
        elif scheme == "bearer" and params.get("realm"):
            query = {k: v for k, v in (("service", params.get("service")), ("scope", params.get("scope") or scope)) if v}
            auth = httpx.BasicAuth(*self.credentials) if self.credentials else None
            reply = self.http.get(params["realm"], params=query, auth=auth)
            if reply.status_code != 200:
                raise RegistryError(f"token endpoint {params['realm']} answered {reply.status_code}")
            body = reply.json()
            token = body.get("token") or body.get("access_token")
            if not token:
                raise RegistryError("token endpoint returned no token")
            value = f"Bearer {token}"
        else:
            return False
        if self.authorization.get(scope) == value:
            return False
        self.authorization[scope] = value
        return True

    def _request(self, method: str, repository: str, path: str, headers: dict[str, str], stream: bool = False):
        scope = f"repository:{repository}:pull"
        url = f"{self.base}/v2/{repository}/{path}"
        for _ in range(3):
            merged = dict(headers)
            if scope in self.authorization:
                merged["Authorization"] = self.authorization[scope]
            request = self.http.build_request(method, url, headers=merged)
            response = self.http.send(request, stream=stream)
            if response.status_code == 401 and self._authorize(response, scope):
                response.close()
                continue
            return response
        return response

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        response = self._request("GET", repository, f"manifests/{reference}", {"Accept": MANIFEST_TYPES}, stream=True)
        try:
            if response.status_code != 200:
                raise RegistryError(f"manifest {repository}:{reference}: HTTP {response.status_code}")
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_MANIFEST_BYTES:
                    raise RegistryError(f"manifest {repository}:{reference} is over {MAX_MANIFEST_BYTES} bytes")
        finally:
            response.close()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and reference != digest:
            raise RegistryError(f"manifest {reference}: content does not match its digest")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            media_type = json.loads(data).get("mediaType") or media_type
        except (ValueError, AttributeError):
            raise RegistryError(f"manifest {repository}:{reference} is not JSON") from None
        return Manifest(data=bytes(data), media_type=media_type, digest=digest)

    def open_blob(self, repository: str, digest: str) -> VerifyingStream:
        """A streaming, digest-verifying reader of one blob; close it (or use `with`)."""
        response = self._request("GET", repository, f"blobs/{digest}", {}, stream=True)
        if response.status_code != 200:
            response.close()
            raise RegistryError(f"blob {repository}@{digest}: HTTP {response.status_code}")
        return VerifyingStream(response, digest)

    def get_blob(self, repository: str, digest: str, max_bytes: int = MAX_MANIFEST_BYTES) -> bytes:
        with self.open_blob(repository, digest) as stream:
            data = bytearray()
            while chunk := stream.read(1 << 20):
                data += chunk
                if len(data) > max_bytes:
                    raise RegistryError(f"blob {digest} is over {max_bytes} bytes")
            return bytes(data)

"""Instance keys: from settings when given (every node of a multi-node instance must share them), else kept in
the data directory -- created once, race-safe, shared by every process using that directory (one machine)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any


def load_or_create_key(path: Path, nbytes: int = 32) -> bytes:
    """The key stored at `path` (hex), created with mode 0600 on first use; a concurrent creator wins."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        pass
    create_once(path, secrets.token_bytes(nbytes).hex().encode())
    return bytes.fromhex(path.read_text().strip())


def setting_or_file_key(value: Any, path: Path) -> bytes:
    """The key from a secret setting (a SecretStr of at least 32 characters, used as is), else the one
    generated into `path` (`load_or_create_key`)."""
    if value is None:
        return load_or_create_key(path)
    secret = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    if len(secret) < 32:
        raise ValueError("a shared secret setting needs at least 32 characters")
    return secret.encode()


def setting_or_file_identity(pem: Any, pem_file: Path | None, path: Path, common_name: str) -> tuple[Any, Any]:
    """The signing key and certificate from settings (inline PEM or a PEM file), else the pair generated
    into `path` (`load_or_create_signing_identity`)."""
    if pem_file is not None:
        return _parse_identity(Path(pem_file).read_bytes())
    if pem is not None:
        return _parse_identity((pem.get_secret_value() if hasattr(pem, "get_secret_value") else str(pem)).encode())
    return load_or_create_signing_identity(path, common_name)


def create_once(path: Path, data: bytes) -> None:
    """Write `data` to `path` (mode 0600) unless it exists: the first writer wins, a concurrent process or
    thread then reads the winner's file (never a half-written one: the file appears whole, by a link)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")  # one per writer, threads too
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create_signing_identity(path: Path, common_name: str) -> tuple[Any, Any]:
    """(RSA private key, self-signed certificate) stored together as PEM at `path`, created with mode 0600 on
    first use (a concurrent creator wins, as with `load_or_create_key`). The certificate is what another
    service trusts to verify what the key signs (ten years; replace the file to rotate)."""
    from cryptography.hazmat.primitives import serialization

    try:
        return _read_identity(path)
    except (FileNotFoundError, ValueError):
        pass
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM)
    create_once(path, pem)
    return _read_identity(path)


def _read_identity(path: Path) -> tuple[Any, Any]:

    return _parse_identity(path.read_bytes())


def _parse_identity(data: bytes) -> tuple[Any, Any]:
    """(private key, certificate) from one PEM text holding both (ValueError when either is missing)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(data, password=None), x509.load_pem_x509_certificate(data)

"""OCI Distribution error codes and the JSON body clients expect (`{"errors": [{code, message, detail}]}`)."""

from __future__ import annotations

from typing import Any

# code -> HTTP status, as the OCI Distribution Specification v1.1 and CNCF Distribution answer them.
STATUS: dict[str, int] = {
    "BLOB_UNKNOWN": 404,
    "BLOB_UPLOAD_INVALID": 400,
    "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 400,
    "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "SIZE_INVALID": 400,
    "TAG_INVALID": 400,
    "UNAUTHORIZED": 401,
    "DENIED": 403,
    "UNSUPPORTED": 415,
    "TOOMANYREQUESTS": 429,
}


class RegistryError(Exception):
    """An error answered to a registry client with the spec's code, status and JSON body."""

    def __init__(self, code: str, message: str, *, status: int | None = None, detail: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status or STATUS[code]
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return {"errors": [error]}

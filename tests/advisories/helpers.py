"""Small builders shared by the advisories tests (real data cut from ../shared/advisories)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.conftest import data_path


def osv_records(name: str = "pypi.jsonl.gz", limit: int | None = None) -> list[dict]:
    out = []
    with gzip.open(data_path("advisories", "osv", name), "rt") as fh:
        for line in fh:
            out.append(json.loads(line))
            if limit is not None and len(out) >= limit:
                break
    return out


def write_jsonl(path: Path, records: list[dict], extra_lines: list[str] = ()) -> Path:
    lines = [json.dumps(r) for r in records] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def fixed_of(record: dict) -> list[str]:
    return [v for a in record.get("affected", []) for r in a.get("ranges", []) for e in r["events"]
            for k, v in e.items() if k == "fixed"]

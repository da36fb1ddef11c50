"""Stated bounds of every parser of untrusted data, tested at the bound: time linear in the input, memory
bounded by the per-layer caps (`walker.Limits`), every cap hit reported as a partial scan, scratch files only
under the scanner's cache dir and gone after any exit (SIGKILL included, at the next start)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

from hullscan.scanner import analyze
from hullscan.scanner.walker import Limits
from tests.scanner.layouts import (
    Entry,
    good_layer_entries,
    gz,
    layer,
    tar_bytes,
    write_layout,
)

SRC = str(Path(__file__).resolve().parents[2] / "src")
ROOT = str(Path(__file__).resolve().parents[2])
GOOD = {"good-pkg", "goodlib", "good-npm"}


def _names(inventory) -> set[str]:
    return {p.name for p in inventory.packages}


def pnpm_alias_bomb(levels: int = 9, width: int = 9) -> bytes:
    """~500 bytes that stand for width**levels strings when aliases are expanded (9**9 = 387 million)."""
    lines = ["lockfileVersion: '6.0'", "x0: &a0 [" + ",".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]")
    lines += ["packages:", "  /left-pad@1.0.0:", f"    name: *a{levels - 1}", "    version: '1.0.0'"]
    return ("\n".join(lines) + "\n").encode()


def _child(code: str, *, env: dict[str, str] | None = None, timeout: float = 120) -> dict:
    """Run `code` in a fresh interpreter (its peak memory is its own) and return the JSON it prints last."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "PYTHONPATH": f"{SRC}:{ROOT}", **(env or {})}, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


PEAK = "int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))"


def test_pnpm_alias_bomb_is_refused_in_bounded_time_and_memory(tmp_path: Path) -> None:
    bomb = pnpm_alias_bomb()
    assert len(bomb) < 600
    (tmp_path / "bomb.yaml").write_bytes(bomb)
    report = _child(
        "import json, time, tracemalloc\n"
        "from hullscan.scanner.analyzers.npm import parse_pnpm_lock\n"
        f"data = open({str(tmp_path / 'bomb.yaml')!r}, 'rb').read()\n"
        "tracemalloc.start()\n"
        "started = time.process_time()\n"
        "try:\n"
        "    parse_pnpm_lock(data, '/app/pnpm-lock.yaml'); error = None\n"
        "except ValueError as exc:\n"
        "    error = str(exc)\n"
        "elapsed = time.process_time() - started\n"
        "print(json.dumps({'error': error, 'seconds': elapsed, 'peak': tracemalloc.get_traced_memory()[1],"
        f" 'hwm_kb': {PEAK}}}))\n")
    assert report["error"] and "aliases expand" in report["error"]
    assert report["seconds"] < 1.0, report
    assert report["peak"] < 100 << 20, report
    assert report["hwm_kb"] < 100 << 10, report


def test_pnpm_alias_bomb_in_an_image_is_a_warning_and_the_rest_is_found(tmp_path: Path) -> None:
    entries = good_layer_entries() + [Entry("srv/pnpm-lock.yaml", pnpm_alias_bomb())]
    started = time.process_time()
    inventory = analyze(f"oci-dir:{write_layout(tmp_path / 'img', [layer(entries)])}", cache_dir=tmp_path / "c")
    assert time.process_time() - started < 5
    assert GOOD <= _names(inventory)
    assert any(w.startswith("/srv/pnpm-lock.yaml:") and "aliases" in w for w in inventory.warnings)


def test_pnpm_lock_with_modest_aliases_still_parses() -> None:
    from hullscan.scanner.analyzers.npm import parse_pnpm_lock

    text = (b"lockfileVersion: '6.0'\ncommon: &res {integrity: sha512-x}\npackages:\n"
            b"  /a@1.0.0:\n    resolution: *res\n  /b@2.0.0:\n    resolution: *res\n")
    assert {(p.name, p.version) for p in parse_pnpm_lock(text, "/pnpm-lock.yaml")} == {("a", "1.0.0"), ("b", "2.0.0")}


def _timed(fn, *args):  # noqa: ANN001, ANN202
    """The value and the CPU seconds this process spent computing it (the machine is shared: wall time would
    measure the neighbours)."""
    started = time.process_time()
    value = fn(*args)
    return value, time.process_time() - started


def test_dpkg_million_continuation_lines_are_linear(tmp_path: Path) -> None:
    text = "Package: big\nStatus: install ok installed\nVersion: 1\nDescription: x\n" + " more\n" * 1_000_000
    from hullscan.scanner.analyzers.dpkg import packages_from_control

    packages, seconds = _timed(packages_from_control, text, "/var/lib/dpkg/status")
    assert [p.name for p in packages] == ["big"]
    assert seconds < 3, seconds
    # the same through a whole scan: a 1M-line status file compresses to a few KB
    entries = [e for e in good_layer_entries() if e.name != "var/lib/dpkg/status"] + [
        Entry("var/lib/dpkg/status", text.encode())]
    blob, raw = layer(entries)
    assert len(blob) < 64 << 10
    path = write_layout(tmp_path / "img", [(blob, raw)])
    inventory, seconds = _timed(lambda: analyze(f"oci-dir:{path}", cache_dir=tmp_path / "c"))
    assert "big" in _names(inventory) and seconds < 3, seconds


def test_other_line_formats_are_linear() -> None:
    from hullscan.scanner.analyzers.apk import parse_installed
    from hullscan.scanner.analyzers.npm import parse_package_json, parse_yarn_lock
    from hullscan.scanner.analyzers.python import parse_metadata

    million = 1_000_000
    cases = [
        (parse_installed, "P:musl\nV:1.2\n" + "L:x\n" * million, "/lib/apk/db/installed"),
        (parse_metadata, (b"Name: big\nVersion: 1\nSummary: x\n" + b" more\n" * million), "/m/METADATA"),
        (parse_yarn_lock, b'a@^1:\n  version "1.0.0"\n' + b'  dependencies x "1"\n' * million, "/yarn.lock"),
        (parse_package_json, b'{"name": "a", "version": "1", "keywords": [' + b'"k",' * million + b'"k"]}',
         "/app/package.json"),
    ]
    for fn, data, path in cases:
        _, seconds = _timed(fn, data, path)
        assert seconds < 3, (fn.__name__, seconds)


def test_rpm_header_with_repeated_tags_is_linear() -> None:
    import struct

    from hullscan.scanner.analyzers.rpmdb import (
        TAG_NAME,
        TAG_VERSION,
        TYPE_STRING,
        parse_header_blob,
    )

    store = b"name\0" + b"1.0\0" + b"x" * 1_000_000  # an unterminated tail each repeated entry would scan
    entries = [struct.pack(">IIII", TAG_NAME, TYPE_STRING, 0, 1), struct.pack(">IIII", TAG_VERSION, TYPE_STRING, 5, 1)]
    entries += [struct.pack(">IIII", TAG_NAME, TYPE_STRING, 9, 1)] * 60_000
    blob = struct.pack(">II", len(entries), len(store)) + b"".join(entries) + store
    header, seconds = _timed(parse_header_blob, blob)
    assert (header.name, header.version) == ("name", "1.0") and seconds < 1, seconds


def _many_dpkg_packages(count: int) -> bytes:
    return b"".join(b"Package: p%d\nStatus: install ok installed\nVersion: 1\n\n" % i for i in range(count))


def test_200k_dpkg_packages_stay_within_the_package_cap(tmp_path: Path) -> None:
    status = _many_dpkg_packages(200_000)
    entries = [e for e in good_layer_entries() if e.name != "var/lib/dpkg/status"] + [
        Entry("var/lib/dpkg/status", status)]
    blob, raw = layer(entries)
    assert len(blob) < 1_200_000
    path = write_layout(tmp_path / "img", [(blob, raw)])
    report = _child(
        "import json\n"
        "from hullscan.scanner import analyze\n"
        "from hullscan.scanner.walker import Limits\n"
        f"inv = analyze('oci-dir:{path}', limits=Limits(max_layer_packages=20_000), cache_dir={str(tmp_path / 'c')!r})\n"
        f"print(json.dumps({{'count': len(inv.packages), 'partial': inv.partial, 'hwm_kb': {PEAK}}}))\n")
    assert report["count"] == 20_000
    assert report["partial"] and "per-layer cap" in report["partial"][0]
    assert report["hwm_kb"] < 300 << 10, report


def test_package_cap_applies_across_analyzers(tmp_path: Path) -> None:
    modules = [Entry(f"app/node_modules/m{i}/package.json", b'{"name": "m%d", "version": "1.0.0"}' % i)
               for i in range(30)]
    path = write_layout(tmp_path / "img", [layer(good_layer_entries() + modules)])
    inventory = analyze(f"oci-dir:{path}", limits=Limits(max_layer_packages=10), cache_dir=tmp_path / "c")
    assert len(inventory.packages) == 10
    assert inventory.partial
    within = analyze(f"oci-dir:{path}", limits=Limits(max_layer_packages=100), cache_dir=tmp_path / "c")
    assert len(within.packages) == 33 and within.partial == []


def test_spool_cap_bounds_what_a_layer_writes_to_disk(tmp_path: Path) -> None:
    big = [Entry(f"app/node_modules/big{i}/package.json",
                 b'{"name": "big%d", "version": "1.0.0", "pad": "' % i + b" " * (3 << 20) + b'"}') for i in range(8)]
    path = write_layout(tmp_path / "img", [layer(good_layer_entries() + big)])
    inventory = analyze(f"oci-dir:{path}", limits=Limits(max_spool_bytes=10 << 20), cache_dir=tmp_path / "c")
    found = {n for n in _names(inventory) if n.startswith("big")}
    assert len(found) == 3  # 3 x 3 MB fit under 10 MB; the others are skipped, and said so
    assert GOOD <= _names(inventory)
    assert inventory.partial and all("spooled" in r for r in inventory.partial)
    assert not any((tmp_path / "c" / "tmp").iterdir())
    within = analyze(f"oci-dir:{path}", limits=Limits(max_spool_bytes=64 << 20), cache_dir=tmp_path / "c")
    assert len({n for n in _names(within) if n.startswith("big")}) == 8 and within.partial == []


def test_bad_tar_header_before_metadata_makes_the_scan_partial(tmp_path: Path) -> None:
    django = Entry("usr/lib/python3/dist-packages/Django-3.2.0.dist-info/METADATA", b"Name: Django\nVersion: 3.2.0\n")
    raw = bytearray(tar_bytes([Entry("etc/hostname", b"x\n"), django]))
    # break the checksum of the header naming Django's METADATA (pax puts its name in an extended header first)
    at = raw.find(b"usr/lib/python3/dist-packages/Django")
    header = at - at % 512
    raw[header + 148:header + 156] = b"0000000\0"
    path = write_layout(tmp_path / "img", [layer(good_layer_entries()), (gz(bytes(raw)), bytes(raw))])
    out = tmp_path / "sbom.json"
    result = subprocess.run([sys.executable, "-m", "hullscan.scanner", f"oci-dir:{path}", "-o", str(out)],
                            capture_output=True, text=True, timeout=120, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": SRC, "HULLSCAN_SCANNER_CACHE_DIR": str(tmp_path / "c")})
    assert result.returncode == 0, result.stderr
    assert "partial scan" in result.stderr
    props = json.loads(out.read_text())["metadata"]["properties"]
    names = {p["name"]: p["value"] for p in props}
    assert names["hullscan:scan:partial"] == "true"
    assert "checksum" in names["hullscan:scan:partial_reason"]
    complete = write_layout(tmp_path / "ok", [layer(good_layer_entries())])
    inventory = analyze(f"oci-dir:{complete}", cache_dir=tmp_path / "c")
    assert inventory.partial == []


def _slow_image(tmp_path: Path) -> Path:
    """One wanted 400 MB file (spooled to disk, ~400 KB compressed): a scan that takes a few seconds."""
    import tarfile

    info = tarfile.TarInfo("app/node_modules/huge/package.json")
    info.size = 400 << 20
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    parts = [comp.compress(info.tobuf(format=tarfile.USTAR_FORMAT))]
    chunk = b" " * (1 << 20)
    for _ in range(400):
        parts.append(comp.compress(chunk))
    parts.append(comp.compress(b"\0" * 1024) + comp.flush())
    raw_stub = b"unused"  # the diff_id does not match: the scan is partial, which is fine for this test
    return write_layout(tmp_path / "slow", [layer(good_layer_entries()), (b"".join(parts), raw_stub)])


def _scratch_files(cache: Path) -> list[Path]:
    return [p for p in (cache / "tmp").rglob("*") if p.is_file() and p.name != ".lock"] if (cache / "tmp").exists() \
        else []


def _start_scan(image: Path, cache: Path, tmp: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hullscan.scanner", f"oci-dir:{image}", "-o", os.devnull,
                             "--no-cache"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": SRC, "HULLSCAN_SCANNER_CACHE_DIR": str(cache),
                                 "TMPDIR": str(tmp)})


def _wait_for_spooling(proc: subprocess.Popen, cache: Path) -> None:
    deadline = time.monotonic() + 60
    while not any(p.stat().st_size > (8 << 20) for p in _scratch_files(cache)):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the scan never spooled"
        time.sleep(0.05)


def test_sigkill_mid_scan_leaves_nothing_after_the_next_start(tmp_path: Path) -> None:
    image, cache, tmp = _slow_image(tmp_path), tmp_path / "cache", tmp_path / "systmp"
    tmp.mkdir()
    proc = _start_scan(image, cache, tmp)
    _wait_for_spooling(proc, cache)
    proc.kill()
    proc.wait(10)
    assert _scratch_files(cache)  # SIGKILL cannot clean up...
    small = write_layout(tmp_path / "small", [layer(good_layer_entries())])
    result = subprocess.run([sys.executable, "-m", "hullscan.scanner", f"oci-dir:{small}", "-o", os.devnull],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": SRC, "HULLSCAN_SCANNER_CACHE_DIR": str(cache),
                                 "TMPDIR": str(tmp)})
    assert result.returncode == 0, result.stderr
    assert list((cache / "tmp").iterdir()) == []  # ...the next scan removes what the dead one left
    assert list(tmp.iterdir()) == []  # and nothing was ever written to the system temp dir


def test_sigterm_mid_scan_removes_its_scratch_at_once(tmp_path: Path) -> None:
    image, cache, tmp = _slow_image(tmp_path), tmp_path / "cache", tmp_path / "systmp"
    tmp.mkdir()
    proc = _start_scan(image, cache, tmp)
    _wait_for_spooling(proc, cache)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 128 + signal.SIGTERM
    assert list((cache / "tmp").iterdir()) == []
    assert list(tmp.iterdir()) == []


def test_a_running_scans_scratch_is_not_swept(tmp_path: Path) -> None:
    from hullscan.scanner.cache import scratch_dir, sweep_scratch

    with scratch_dir(tmp_path) as live:
        Path(live, "spooled").write_bytes(b"x")
        assert sweep_scratch(tmp_path / "tmp") == 0
        assert Path(live, "spooled").exists()
    assert not Path(live).exists()


def test_jar_manifest_and_gemspec_are_linear() -> None:
    from hullscan.scanner.analyzers.gem import parse_gemspec
    from hullscan.scanner.analyzers.java import parse_manifest

    manifest, seconds = _timed(parse_manifest, "Implementation-Title: x\n" + " y\n" * 500_000)
    assert len(manifest["Implementation-Title"]) == 500_001 and seconds < 2, seconds
    # `\s*` at a line start made blank lines quadratic (40,000 newlines took 17 s)
    _, seconds = _timed(parse_gemspec, "\n" * 1_000_000 + 's.name = "x"' + " " * 100_000 + "\n", "/a.gemspec")
    assert seconds < 2, seconds


def test_rpm_databases_cannot_reuse_blobs_to_multiply_work() -> None:
    import struct

    import pytest

    from hullscan.scanner.analyzers.rpmdb import RpmDBError, ndb_blobs

    blob_len = 200_000
    slot_pages = 64  # 16,382 slots, every one pointing at the same 200 KB blob: 3.3 GB if each were copied
    n_slots = slot_pages * 256 - 2
    header = struct.pack("<IIII", int.from_bytes(b"RpmP", "little"), 0, 0, slot_pages) + b"\0" * 16
    blob_at = 32 + n_slots * 16
    blob_at += -blob_at % 16
    slots = b"".join(struct.pack("<IIII", int.from_bytes(b"Slot", "little"), 1, blob_at // 16, 1)
                     for _ in range(n_slots))
    data = (header + slots).ljust(blob_at, b"\0") + struct.pack(
        "<IIII", int.from_bytes(b"BlbS", "little"), 1, 0, blob_len) + b"\0" * blob_len
    started = time.process_time()
    with pytest.raises(RpmDBError, match="share or overlap"):
        for _ in ndb_blobs(data):
            pass
    assert time.process_time() - started < 1


def test_a_killed_runner_jobs_scratch_is_swept_like_a_scans(tmp_path: Path) -> None:
    from hullscan.scanner.cache import scratch_dir

    stale = tmp_path / "tmp" / "job-dead"  # a runner killed mid-job: no process holds its lock any more
    stale.mkdir(parents=True)
    (stale / ".lock").write_bytes(b"")
    (stale / "gl-sbom-report.cdx.json").write_bytes(b"{}")
    with scratch_dir(tmp_path) as live:
        assert sorted(p.name for p in (tmp_path / "tmp").iterdir()) == [Path(live).name]


def test_dependency_fields_and_graph_are_linear() -> None:
    """Hostile dependency data: one package needing 100,000 names, 20,000 packages sharing one name and one
    provided name (each lookup stays O(1): only "one" or "several" is kept), a lock entry nested 20,000
    levels deep with 20,000 dependencies, an rpm string array claiming 4 billion strings, 1 MB of ldflags."""
    import json
    import struct

    from hullscan.scanner.analyzers.dpkg import packages_from_control
    from hullscan.scanner.analyzers.golang import ldflags_version
    from hullscan.scanner.analyzers.npm import parse_package_lock
    from hullscan.scanner.analyzers.rpmdb import TAG_NAME, TAG_REQUIRENAME, TAG_VERSION, TYPE_STRING, \
        TYPE_STRING_ARRAY, parse_header_blob
    from hullscan.scanner.inventory import dependency_graph

    wide = "Package: top\nStatus: install ok installed\nVersion: 1\nDepends: " + ", ".join(
        f"p{i} (>= 1) | q{i} | r{i}" for i in range(100_000)) + "\n\n"
    same = "".join(f"Package: twin\nStatus: install ok installed\nVersion: {i}\nProvides: virt\n"
                   f"Depends: twin, virt, p{i}\n\n" for i in range(20_000))
    found, seconds = _timed(packages_from_control, wide + same + _many_dpkg_packages(100_000).decode(), "/s")
    assert len(found[0].depends) == 100_000 and seconds < 4, seconds
    graph, seconds = _timed(dependency_graph, found)
    assert len(graph[0]) == 100_000 and seconds < 3, seconds  # p<i> resolve; twin and virt are ambiguous
    assert all(len(graph.get(i, [])) == 1 for i in range(1, 20_001))

    wanted = {f"d{i}": "*" for i in range(20_000)}
    for levels, depends in ((20_000, []), (60, ["d7 7"])):  # lookups stop 64 levels up
        lock = {"lockfileVersion": 3, "packages": {"/".join(["node_modules/a"] * levels): {
            "version": "1", "dependencies": wanted}, "node_modules/d7": {"version": "7"}}}
        packages, seconds = _timed(parse_package_lock, json.dumps(lock).encode(), "/l")
        assert packages[0].depends == depends and seconds < 3, seconds

    store = b"top\x001\x00" + b"\x00" * 1_000_000
    entries = [struct.pack(">IIII", TAG_NAME, TYPE_STRING, 0, 1), struct.pack(">IIII", TAG_VERSION, TYPE_STRING, 4, 1),
               struct.pack(">IIII", TAG_REQUIRENAME, TYPE_STRING_ARRAY, 6, 0xFFFFFFFF)]
    blob = struct.pack(">II", len(entries), len(store)) + b"".join(entries) + store
    header, seconds = _timed(parse_header_blob, blob)
    assert header.name == "top" and len(header.requires) == 1_000_000 and seconds < 2, seconds

    _, seconds = _timed(ldflags_version, "-X main.version=1.0.0 " * 50_000 + "'" * 10)
    assert seconds < 1, seconds

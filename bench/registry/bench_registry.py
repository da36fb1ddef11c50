"""skopeo push/pull against `hullscan serve` vs Debian's docker-registry (CNCF Distribution), side by side.

Each round starts both registries fresh (new data directories and ports, so skopeo's blob-info cache
cannot turn pushes into cross-repository mounts), then pushes every test image to each and pulls each
back into a fresh OCI layout, alternating which registry goes first. Reported: medians over the rounds,
throughput (MB/s of image bytes) and the hullscan/Distribution throughput ratio. Then a 1 GiB blob is
streamed to each registry while the server's resident memory is sampled.

    .venv/bin/python bench/registry/bench_registry.py [--rounds 5] [--blob-mib 1024]

Writes bench/results/registry.json and bench/results/registry.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.scanner.tokenauth import TokenServer  # noqa: E402
from tests.support.auth import ADMIN_CREDS, ADMIN_PASSWORD, ADMIN_USER, HullscanAuth  # noqa: E402

IMAGES_DIR = ROOT.parent / "shared" / "testdata" / "images"
IMAGES = ["debian-bookworm-minbase", "debian-python-app", "distroless-style", "multiarch-index", "go-binary"]
RESULTS = ROOT / "bench" / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code in (200, 401):  # 401: the registry wants a token
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


class Server:
    name: str

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Hullscan(Server):
    name = "hullscan"

    def start(self) -> "Hullscan":
        data = self.dir / "data"
        data.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HULLSCAN_")}
        # The registry alone, like Distribution: no local scan runners and no scans triggered by the pushes.
        env.update(HULLSCAN_DATA_DIR=str(data), HULLSCAN_LOG_LEVEL="WARNING", HULLSCAN_RUNNER_POOL_SIZE="0",
                   HULLSCAN_FEATURE_CONTAINER_SCANNING_FOR_REGISTRY="false", HULLSCAN_ADMIN_PASSWORD=ADMIN_PASSWORD)
        log = self.dir / "log"
        self.proc = subprocess.Popen([sys.executable, "-m", "hullscan", "serve", "--host", "127.0.0.1", "--port",
                                      str(self.port)], env=env, cwd=data, stdout=open(log, "wb"),
                                     stderr=subprocess.STDOUT)
        wait_ready(f"http://{self.host}/-/ready", self.proc, log)
        return self


class Distribution(Server):
    """Debian's docker-registry with Docker token auth, like hullscan's registry (which requires credentials):
    clients run the same challenge/token flow against both. The token endpoint is a separate small process
    (tests/scanner/tokenauth.py), so issuing tokens is not counted as Distribution's CPU, verifying them is."""

    name = "distribution"

    def start(self) -> "Distribution":
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tokens = TokenServer(self.dir, ADMIN_USER, ADMIN_PASSWORD).start()
        config = self.dir / "config.yml"
        config.write_text("\n".join([
            "version: 0.1", "log:", "  level: warn", "  accesslog:", "    disabled: true",
            "storage:", "  filesystem:", f"    rootdirectory: {self.dir / 'data'}",
            "http:", f"  addr: {self.host}", self.tokens.registry_auth_config()]))
        log = self.dir / "log"
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=open(log, "wb"),
                                     stderr=subprocess.STDOUT)
        wait_ready(f"http://{self.host}/v2/", self.proc, log)
        return self

    def stop(self) -> None:
        super().stop()
        self.tokens.stop()


def settle(server: Server, timeout: float = 120) -> None:
    """Wait until the server has finished its start-up work (hullscan warms caches on background threads for
    several CPU seconds after it answers /-/ready), then send it one registry request (FastAPI builds its
    route tables on the first request). Both servers get the same treatment: what is measured is steady-state
    registry work, not start-up."""
    assert server.proc is not None
    deadline = time.monotonic() + timeout
    last = cpu_seconds(server.proc.pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(server.proc.pid)
        if now - last < 0.02:
            break
        last = now
    httpx.get(f"http://{server.host}/v2/", timeout=30)


def skopeo_copy(*args: str) -> None:
    proc = subprocess.run(["skopeo", "copy", "-q", *args], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])


def image_bytes() -> int:
    """Bytes a push of every image moves: each image's blobs (shared ones counted per image)."""
    total = 0
    for name in IMAGES:
        total += sum(p.stat().st_size for p in (IMAGES_DIR / name / "blobs").glob("*/*"))
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process: unlike wall time, not inflated by other load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def push_all(server: Server) -> tuple[float, float]:
    assert server.proc is not None
    cpu, start = cpu_seconds(server.proc.pid), time.perf_counter()
    for name in IMAGES:
        flags = ["--all"] if name == "multiarch-index" else []
        skopeo_copy(*flags, "--dest-tls-verify=false", "--dest-creds", ADMIN_CREDS, f"oci:{IMAGES_DIR / name}:latest",
                    f"docker://{server.host}/bench/project/{name}:latest")
    return time.perf_counter() - start, cpu_seconds(server.proc.pid) - cpu


def pull_all(server: Server, out: Path) -> tuple[float, float]:
    assert server.proc is not None
    (out / server.name).mkdir(parents=True, exist_ok=True)
    cpu, start = cpu_seconds(server.proc.pid), time.perf_counter()
    for name in IMAGES:
        flags = ["--all"] if name == "multiarch-index" else []
        skopeo_copy(*flags, "--src-tls-verify=false", "--src-creds", ADMIN_CREDS,
                    f"docker://{server.host}/bench/project/{name}:latest",
                    f"oci:{out / server.name / name}:latest")
    return time.perf_counter() - start, cpu_seconds(server.proc.pid) - cpu


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def push_big_blob(server: Server, mib: int) -> dict[str, float]:
    """Stream a `mib` MiB blob (POST, one chunked PATCH, PUT) while sampling the server's RSS."""
    block = os.urandom(1 << 20)
    h = hashlib.sha256()
    for _ in range(mib):
        h.update(block)
    digest = "sha256:" + h.hexdigest()
    assert server.proc is not None
    pid = server.proc.pid
    samples = [rss_kib(pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                samples.append(rss_kib(pid))
            except FileNotFoundError:
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    with httpx.Client(base_url=f"http://{server.host}", timeout=600, auth=HullscanAuth()) as client:
        r = client.post("/v2/bench/project/big/blobs/uploads/")
        r.raise_for_status()
        location = r.headers["Location"]
        r = client.patch(location, content=(block for _ in range(mib)),
                         headers={"Content-Type": "application/octet-stream"})
        r.raise_for_status()
        location = r.headers["Location"]
        sep = "&" if "?" in location else "?"
        r = client.put(f"{location}{sep}digest={digest}")  # keep the registry's own query (Distribution's _state)
        if r.status_code != 201:
            done.set()
            raise RuntimeError(f"{server.name}: {r.status_code} {r.text}")
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return {"seconds": round(seconds, 3), "mb_per_s": round(mib * 1.048576 / seconds, 1),
            "rss_before_mib": round(samples[0] / 1024, 1), "rss_peak_mib": round(max(samples) / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--blob-mib", type=int, default=1024)
    args = parser.parse_args()
    total = image_bytes()
    load_at_start = os.getloadavg()
    times: dict[str, dict[str, list[float]]] = {n: {"push": [], "pull": []} for n in ("hullscan", "distribution")}
    cpus: dict[str, dict[str, list[float]]] = {n: {"push": [], "pull": []} for n in ("hullscan", "distribution")}
    for rnd in range(args.rounds):
        work = Path(tempfile.mkdtemp(prefix="hullscan-bench-"))
        servers: list[Server] = [Hullscan(work / "hullscan"), Distribution(work / "distribution")]
        try:
            for s in servers:
                s.start()
            for s in servers:
                settle(s)
            order = servers if rnd % 2 == 0 else servers[::-1]
            for s in order:
                wall, cpu = push_all(s)
                times[s.name]["push"].append(wall)
                cpus[s.name]["push"].append(cpu)
            for s in order[::-1]:
                wall, cpu = pull_all(s, work / "out")
                times[s.name]["pull"].append(wall)
                cpus[s.name]["pull"].append(cpu)
            print(f"round {rnd + 1}: " + ", ".join(f"{n} push {t['push'][-1]:.2f}s pull {t['pull'][-1]:.2f}s"
                                                   for n, t in times.items()), flush=True)
        finally:
            for s in servers:
                s.stop()
            shutil.rmtree(work, ignore_errors=True)

    medians = {n: {op: statistics.median(v) for op, v in t.items()} for n, t in times.items()}
    cpu_medians = {n: {op: statistics.median(v) for op, v in t.items()} for n, t in cpus.items()}
    result: dict = {
        "what": "skopeo copy of every ../shared/testdata/images image, push then pull, fresh registries each round",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_at_start": load_at_start, "loadavg_at_end": os.getloadavg()},
        "rounds": args.rounds, "image_bytes": total,
        "seconds": times, "median_seconds": medians,
        "server_cpu_seconds": cpus, "median_server_cpu_seconds": cpu_medians,
        "throughput_mb_per_s": {n: {op: round(total / 1e6 / m[op], 1) for op in m} for n, m in medians.items()},
        "ratio_hullscan_to_distribution": {
            op: round(medians["distribution"][op] / medians["hullscan"][op], 2) for op in ("push", "pull")},
        # Each round runs both registries back to back, so a round's ratio is the fairer pair when the load of
        # the shared machine drifts between rounds.
        "paired_ratio_median": {op: round(statistics.median(
            d / h for d, h in zip(times["distribution"][op], times["hullscan"][op], strict=True)), 2)
            for op in ("push", "pull")},
        "target": "ratio >= 0.8 for push and pull; hullscan RSS < 200 MB while a 1 GiB blob is pushed",
    }
    big: dict[str, dict[str, float]] = {}
    work = Path(tempfile.mkdtemp(prefix="hullscan-bench-"))
    try:
        for cls in (Hullscan, Distribution):
            server = cls(work / cls.name)
            try:
                server.start()
                settle(server)
                cpu = cpu_seconds(server.proc.pid)  # type: ignore[union-attr]
                big[server.name] = push_big_blob(server, args.blob_mib)
                big[server.name]["server_cpu_s"] = round(cpu_seconds(server.proc.pid) - cpu, 2)  # type: ignore[union-attr]
            finally:
                server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["big_blob"] = {"mib": args.blob_mib, **big}

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "registry.json").write_text(json.dumps(result, indent=2) + "\n")
    r = result
    lines = [
        "# Registry benchmark: hullscan vs CNCF Distribution (Debian docker-registry)", "",
        f"{r['when']}, {r['machine']['cpus']} CPUs, load average at start {r['machine']['loadavg_at_start'][0]:.1f}, "
        f"at end {r['machine']['loadavg_at_end'][0]:.1f}; {r['rounds']} rounds, medians; {total / 1e6:.1f} MB of image "
        "blobs per push/pull of all five images. Each server is measured once its start-up work has settled and "
        "after one `GET /v2/` (both servers alike).", "",
        "| operation | hullscan s | distribution s | hullscan MB/s | distribution MB/s | ratio (hullscan/dist throughput) |",
        "|---|---|---|---|---|---|",
    ]
    for op in ("push", "pull"):
        lines.append(f"| skopeo {op} | {medians['hullscan'][op]:.2f} | {medians['distribution'][op]:.2f} | "
                     f"{r['throughput_mb_per_s']['hullscan'][op]} | {r['throughput_mb_per_s']['distribution'][op]} | "
                     f"{r['ratio_hullscan_to_distribution'][op]} |")
    lines += ["", "Median of the per-round ratios (both registries run back to back in each round): push "
              f"{r['paired_ratio_median']['push']}, pull {r['paired_ratio_median']['pull']}."]
    lines += ["", "Server CPU seconds (user+system, medians): not inflated by other load on a shared machine.", "",
              "| operation | hullscan CPU s | distribution CPU s | ratio (distribution/hullscan) |", "|---|---|---|---|"]
    for op in ("push", "pull"):
        h, d = cpu_medians["hullscan"][op], cpu_medians["distribution"][op]
        lines.append(f"| skopeo {op} | {h:.2f} | {d:.2f} | {d / h:.2f} |")
    lines += ["", f"## {args.blob_mib} MiB blob streamed (POST, chunked PATCH, PUT)", "",
              "| server | seconds | MB/s | server CPU s | RSS before MiB | RSS peak MiB |", "|---|---|---|---|---|---|"]
    for name, b in big.items():
        lines.append(f"| {name} | {b['seconds']} | {b['mb_per_s']} | {b['server_cpu_s']} | {b['rss_before_mib']} "
                     f"| {b['rss_peak_mib']} |")
    lines += ["", "The big blob's client fetches its registry token inside the measured window, so the RSS peak "
              "includes the token endpoint's password check (argon2id at 19 MiB, t=2, p=1).",
              "", f"Target: {r['target']}.", ""]
    (RESULTS / "registry.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

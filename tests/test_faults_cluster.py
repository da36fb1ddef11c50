"""Acceptance of "runs on many machines, loses nothing": two `hullscan serve` processes on PostgreSQL and the
local S3 server, each with its own data directory, three remote `hullscan runner` processes, and bursts of
pushes from 8 client threads spread over both servers (each push a tiny image of its own, so a new digest).

A clean burst first (60 pushes: 60 scans, 60 SBOMs, no duplicate scan, vulnerability or notification, one
image name through either server), then a burst under each fault: kill -9 of a runner mid-scan, kill -9 of a
server mid-burst, PostgreSQL stopped for 10 s mid-burst. After each: every push a client saw succeed is
scanned exactly once (a failed push is retried by the client, through the other server), nothing else is
scanned twice, every SBOM ingested, every new vulnerability notified once.

The cluster is started once for the module; the tests run in order, each on its own repositories."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.pipelines.e2e import hullscan_cli, make_server, start_runner
from tests.registry.support import skopeo
from tests.support.auth import ADMIN_HTTP
from tests.support.postgres import PostgresCluster
from tests.support.s3 import S3Server
from tests.support.images import advisory, tiny_image
from tests.support.server import HullscanServer
from tests.vulnerabilities.test_notifications import Receiver

pytestmark = pytest.mark.xdist_group("faults")

PROJECT = "team/fleet"
LEASE_SECONDS = 6
CLIENTS = 8


# --- the cluster -----------------------------------------------------------------------------------------

@dataclass
class Push:
    repository: str
    tag: str
    layout: Path
    digest: str
    via: int  # index of the server the client tries first
    done_at: float = 0.0  # when the client saw it succeed (time.monotonic)


@dataclass
class Cluster:
    root: Path
    pg: PostgresCluster
    database: str
    servers: list[HullscanServer]
    receiver: Receiver
    public: str
    runners: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    runner_server: dict[str, int] = field(default_factory=dict)
    images: int = 0
    pushed: int = 0  # pushes of the running burst the clients saw succeed

    def start_runner(self, name: str, server: int) -> subprocess.Popen[bytes]:
        cache = self.root / "runners" / name / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        proc = start_runner(self.servers[server], name, cache)
        self.runners[name], self.runner_server[name] = proc, server
        return proc

    def cache(self, name: str) -> Path:
        return self.root / "runners" / name / "cache"

    def sql(self, query: str, *args: object) -> list[tuple]:
        dsn = self.database.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            return list(conn.execute(query, args).fetchall())

    def pushes(self, prefix: str, repositories: int, tags: int) -> list[Push]:
        """`repositories` x `tags` pushes, each a new image; a repository's tags alternate between servers."""
        self.pushed = 0  # a new burst
        out = []
        for r in range(repositories):
            for t in range(tags):
                layout = self.root / "images" / f"{prefix}-{r}-{t}"
                self.images += 1
                digest = tiny_image(layout, f"{prefix}/{r}/{t}/{self.images}")
                out.append(Push(f"{PROJECT}/{prefix}-{r}", f"v{t}", layout, digest, via=(r + t) % 2))
        return out

    def push_all(self, pushes: list[Push], *, retry_for: float = 90) -> tuple[list[Push], list[str]]:
        """8 client threads push; a failed push is retried (the other server first) until `retry_for` runs out.
        Returns the pushes the clients saw succeed and the failures they saw on the way."""
        succeeded: list[Push] = []
        failures: list[str] = []
        lock = threading.Lock()

        def client(push: Push) -> None:
            deadline = time.monotonic() + retry_for
            attempt = 0
            while True:
                server = self.servers[(push.via + attempt) % 2]
                try:
                    skopeo("copy", "--dest-tls-verify=false", "--retry-times", "0", f"oci:{push.layout}:latest",
                           f"docker://{server.host}/{push.repository}:{push.tag}", timeout=60)
                    push.done_at = time.monotonic()
                    with lock:
                        succeeded.append(push)
                        self.pushed += 1
                    return
                except (AssertionError, subprocess.TimeoutExpired) as exc:
                    with lock:
                        failures.append(str(exc)[-300:])
                    attempt += 1
                    if time.monotonic() > deadline:
                        return
                    time.sleep(min(0.5 * attempt, 3))

        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(client, pushes))
        return succeeded, failures

    def wait_started(self, pushes: int = 6) -> None:
        """Until the burst is under way: `pushes` of it seen succeed by the clients (the rest still to come)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.pushed < pushes:
            time.sleep(0.02)

    def jobs(self, prefix: str) -> list[tuple]:
        return self.sql("SELECT id, repository, tag, digest, status, attempts, variables, failure_reason FROM ci_jobs "
                        "WHERE repository LIKE %s ORDER BY id", f"{PROJECT}/{prefix}-%")

    def wait_settled(self, prefix: str, count: int, timeout: float = 150) -> list[tuple]:
        """Every job of the burst finished and every SBOM of theirs ingested."""
        deadline = time.monotonic() + timeout
        jobs: list[tuple] = []
        while time.monotonic() < deadline:
            try:
                jobs = self.jobs(prefix)
                pending = self.sql(
                    "SELECT count(*) FROM ci_job_artifacts a JOIN ci_jobs j ON j.id = a.job_id "
                    "WHERE j.repository LIKE %s AND a.ingested_at IS NULL", f"{PROJECT}/{prefix}-%")[0][0]
            except psycopg.OperationalError:
                time.sleep(0.5)
                continue
            if len(jobs) >= count and all(j[4] in ("success", "failed", "canceled") for j in jobs) and not pending:
                return jobs
            time.sleep(0.5)
        logs = "\n".join(s.log_path.read_text(errors="replace")[-2500:] for s in self.servers)
        raise AssertionError(f"burst {prefix} did not settle: {[j[:6] for j in jobs]}\n{logs}")

    def check_burst(self, prefix: str, succeeded: list[Push], attempted: list[Push]) -> list[tuple]:
        """Exactly once: every push a client saw succeed has one successful scan; no digest is scanned twice;
        every scan of the burst ingested its one SBOM; vulnerabilities and notifications are not repeated."""
        jobs = self.wait_settled(prefix, len(succeeded))
        by_digest = Counter(j[3] for j in jobs)
        assert not [d for d, n in by_digest.items() if n > 1], f"scanned twice: {jobs}"
        known = {p.digest for p in attempted}
        assert {j[3] for j in jobs} <= known, "a scan of a digest nobody pushed"
        status = {j[3]: j[4] for j in jobs}
        assert {p.digest: status.get(p.digest) for p in succeeded} == {p.digest: "success" for p in succeeded}, \
            [(j[0], j[1], j[2], j[4], j[7]) for j in jobs if j[4] != "success"]
        assert {(j[1], j[2]) for j in jobs} >= {(p.repository, p.tag) for p in succeeded}
        # one image name, whichever server took the push: the public URL's
        assert {j[6]["CS_IMAGE"].split("/", 1)[0] for j in jobs} == {self.public}
        artifacts = self.sql(
            "SELECT a.job_id, a.ingested_at IS NOT NULL, a.ingest_error FROM ci_job_artifacts a JOIN ci_jobs j "
            "ON j.id = a.job_id WHERE j.repository LIKE %s AND j.status = 'success'", f"{PROJECT}/{prefix}-%")
        assert len(artifacts) == len([j for j in jobs if j[4] == "success"]), artifacts
        assert all(ok and not error for _, ok, error in artifacts), artifacts
        sources = self.sql("SELECT image_name, image_tag, count(*) FROM sbom_sources WHERE image_name LIKE %s "
                           "GROUP BY image_name, image_tag", f"%/{PROJECT}/{prefix}-%")
        assert len(sources) == len({(j[1], j[2]) for j in jobs if j[4] == "success"})
        assert all(n == 1 for *_, n in sources) and {s[0].split("/", 1)[0] for s in sources} == {self.public}

        # One vulnerability per repository (findings are per image name, not tag), none twice.
        vulns = self.sql("SELECT uuid, location FROM vulnerabilities WHERE primary_identifier = %s",
                         "HULLSCAN-FAULTS-0001")
        mine = [(u, loc.get("image", "")) for u, loc in vulns if f"/{PROJECT}/{prefix}-" in loc.get("image", "")]
        repos = {j[1] for j in jobs if j[4] == "success"}
        images = Counter(image.rsplit(":", 1)[0] for _, image in mine)
        assert sorted(images) == sorted(f"{self.public}/{r}" for r in repos), mine
        assert set(images.values()) == {1}, images

        # Each new vulnerability notified once, though both nodes run the delivery loop.
        def notified() -> list[str]:
            return [v["image"].rsplit(":", 1)[0] for _, body in list(self.receiver.received)
                    for v in json.loads(body)["vulnerabilities"] if f"/{PROJECT}/{prefix}-" in v["image"]]

        deadline = time.monotonic() + 60
        while len(set(notified())) < len(repos) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1.5)  # room for a wrongly repeated delivery
        seen = Counter(notified())
        assert sorted(seen) == sorted(f"{self.public}/{r}" for r in repos), seen
        assert set(seen.values()) == {1}, seen
        ids = [h["X-Hullscan-Delivery"] for h, _ in self.receiver.received]
        assert len(ids) == len(set(ids))
        return jobs


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("faults")
    pg = PostgresCluster().start()
    s3 = S3Server(root).start()
    receiver = Receiver()
    servers: list[HullscanServer] = []
    try:
        database = pg.create_database()
        env = {**s3.env(s3.create_bucket("faults")), "HULLSCAN_RUNNER_POOL_SIZE": "0",
               "HULLSCAN_JOB_LEASE_SECONDS": str(LEASE_SECONDS), "HULLSCAN_WEBHOOK_DELIVERY_INTERVAL": "0.2",
               "HULLSCAN_CONTINUOUS_SCAN_INTERVAL": "1"}
        servers = [make_server(root / name, database, **env) for name in ("a", "b")]
        public = servers[0].host
        for server in servers:
            server.extra_env["HULLSCAN_PUBLIC_URL"] = f"http://{public}"
        hullscan_cli(servers[0], "project", "create", PROJECT, "--cs4r", "on")
        feed = root / "advisory.jsonl"
        feed.write_text(json.dumps(advisory("HULLSCAN-FAULTS-0001")) + "\n")
        hullscan_cli(servers[0], "advisories", "import", str(feed), "--format", "osv", "--source", "test-faults")
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda s: s.start(), servers))
        project = PROJECT.replace("/", "%2F")
        r = ADMIN_HTTP.put(f"{servers[0].url}/api/v1/projects/{project}/security_settings",
                           json={"cs4r_tag_patterns": ["*"], "cs4r_daily_limit": 100_000})
        assert r.status_code == 200, r.text
        r = ADMIN_HTTP.post(f"{servers[1].url}/api/v1/projects/{project}/webhooks",
                            json={"url": receiver.url, "events": ["new_vulnerability"], "min_severity": "low"})
        assert r.status_code == 201, r.text
        c = Cluster(root, pg, database, servers, receiver, public)
        for name, server in (("r1", 0), ("r2", 1), ("r3", 0)):
            c.start_runner(name, server)
        yield c
    finally:
        for proc in (c.runners.values() if "c" in locals() else []):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for server in servers:
            server.stop()
        receiver.close()
        s3.stop()
        pg.stop()


def test_a_clean_burst_through_both_servers(cluster: Cluster) -> None:
    """60 pushes from 8 clients, half through each server: 60 scans, 60 SBOMs, nothing twice, one name."""
    pushes = cluster.pushes("clean", 12, 5)
    succeeded, failures = cluster.push_all(pushes)
    assert not failures and len(succeeded) == 60
    jobs = cluster.check_burst("clean", succeeded, pushes)
    assert len(jobs) == 60 and {j[4] for j in jobs} == {"success"}


def _running_job_of(cluster: Cluster, runner: str) -> int | None:
    rows = cluster.sql("SELECT j.id FROM ci_jobs j JOIN ci_runners r ON r.id = j.runner_id "
                       "WHERE j.status = 'running' AND r.description = %s", runner)
    return rows[0][0] if rows else None


def test_kill_9_of_a_runner_mid_scan(cluster: Cluster) -> None:
    """The killed runner's job is re-leased and finishes (its log keeps the first attempt's lines); its job
    directory is removed when a runner starts again on that cache directory."""
    pushes = cluster.pushes("runnerkill", 6, 4)
    victim = "r2"
    killed: dict[str, object] = {}

    def kill_mid_scan() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            tmp = cluster.cache(victim) / "tmp"
            dirs = list(tmp.glob("job-*"))
            # mid-scan: the scan walks a layer (its scan-* scratch exists: the job's first lines are logged) and
            # the job directory holds no SBOM yet (so no upload or result report can be under way)
            if dirs and list(tmp.glob("scan-*")) and not [d for d in dirs if (d / "gl-sbom-report.cdx.json").exists()]:
                cluster.runners[victim].send_signal(signal.SIGKILL)
                cluster.runners[victim].wait()
                killed["job"] = _running_job_of(cluster, victim)  # the job it was running when it died
                killed["left"] = sorted(p.name for p in (cluster.cache(victim) / "tmp").glob("job-*"))
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_mid_scan)
    killer.start()
    succeeded, failures = cluster.push_all(pushes)
    killer.join()
    assert not failures and len(succeeded) == len(pushes)
    assert killed, "the runner never ran a job"
    job = killed["job"]
    assert job is not None, "killed mid-scan, the runner's job is still running on the server"
    assert killed["left"], "a killed runner leaves its job directory behind"

    cluster.start_runner(victim, cluster.runner_server[victim])  # the next start sweeps it
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any((cluster.cache(victim) / "tmp" / n).exists() for n in killed["left"]):
        time.sleep(0.2)
    assert not [n for n in killed["left"] if (cluster.cache(victim) / "tmp" / n).exists()]

    jobs = cluster.check_burst("runnerkill", succeeded, pushes)
    row = next(j for j in jobs if j[0] == job)
    assert row[4] == "success" and row[5] == 2  # re-leased once, then finished
    trace = ADMIN_HTTP.get(f"{cluster.servers[0].url}/api/v1/projects/{PROJECT.replace('/', '%2F')}/jobs/"
                           f"{job}/trace", timeout=30).text
    first, expired = trace.find("attempt 1 scanning"), trace.find("lease expired")
    assert -1 < first < expired < trace.find("attempt 2 scanning") < trace.find("job succeeded"), trace


def test_kill_9_of_a_server_mid_burst(cluster: Cluster) -> None:
    """Pushes the clients saw succeed are scanned exactly once; the ones that failed are retried through the
    other server; the killed server comes back on its port and its runners reconnect."""
    pushes = cluster.pushes("serverkill", 6, 4)
    victim = cluster.servers[1]
    killed_at: list[float] = []

    def kill_mid_burst() -> None:
        cluster.wait_started()
        victim.kill()
        killed_at.append(time.monotonic())
        time.sleep(3)
        victim.start()

    killer = threading.Thread(target=kill_mid_burst)
    killer.start()
    succeeded, failures = cluster.push_all(pushes)
    killer.join()
    assert len(succeeded) == len(pushes), failures
    assert [p for p in succeeded if p.done_at > killed_at[0]], "the kill came after the burst"
    cluster.check_burst("serverkill", succeeded, pushes)
    # the killed server's runner found it again: it takes the next burst's jobs
    assert cluster.runners["r2"].poll() is None


def test_postgresql_stopped_for_10_s_mid_burst(cluster: Cluster) -> None:
    """While the database is down the API answers 503 with Retry-After; afterwards every push a client saw
    succeed is scanned exactly once, nothing twice."""
    pushes = cluster.pushes("pgstop", 6, 4)
    answers: list[tuple[int, str | None]] = []
    resumed_at: list[float] = []

    def outage() -> None:
        cluster.wait_started()
        cluster.pg.pause()
        end = time.monotonic() + 10
        while time.monotonic() < end:
            for server in cluster.servers:
                try:
                    r = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/{PROJECT.replace('/', '%2F')}/pipelines",
                                       timeout=10)
                    answers.append((r.status_code, r.headers.get("Retry-After")))
                except httpx.HTTPError as exc:
                    answers.append((0, str(exc)))
            time.sleep(0.5)
        cluster.pg.resume()
        resumed_at.append(time.monotonic())

    stopper = threading.Thread(target=outage)
    stopper.start()
    succeeded, failures = cluster.push_all(pushes, retry_for=120)
    stopper.join()
    assert answers and {a for a, _ in answers} == {503}, answers
    assert all(retry and int(retry) > 0 for _, retry in answers)
    assert len(succeeded) == len(pushes), failures
    assert [p for p in succeeded if p.done_at > resumed_at[0]], "the outage came after the burst"
    cluster.check_burst("pgstop", succeeded, pushes)
    assert all(proc.poll() is None for proc in cluster.runners.values())  # runners outlive the outage
    for server in cluster.servers:
        assert server.proc is not None and server.proc.poll() is None
        assert ADMIN_HTTP.get(f"{server.url}/-/ready", timeout=10).status_code == 200

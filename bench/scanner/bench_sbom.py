#!/usr/bin/env python3
"""Benchmark: `hullscan sbom` vs `syft` vs `trivy image` (SBOM mode, offline) side by side, in one run.

Same OCI layouts (../shared/testdata/images) and the same images pushed to a local Debian `docker-registry`.
Cold = empty caches (hullscan layer cache, trivy --cache-dir; syft has no cache). Warm = layers already
cached. Median of N runs (default 5) of wall time and of each process's peak RSS (wait4 rusage).

    .venv/bin/python bench/scanner/bench_sbom.py [--runs 5] [--images debian-bookworm-minbase,debian-python-app]

Writes bench/results/scanner.json and bench/results/scanner.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGES_DIR = ROOT.parent / "shared" / "testdata" / "images"
RESULTS = ROOT / "bench" / "results"
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
from bench.common import byte_compile_hullscan  # noqa: E402


def tool(name: str) -> str:
    path = shutil.which(name, path=str(VENV_BIN)) or shutil.which(name)
    if not path:
        sys.exit(f"{name} not found: pip install -e '.[test]'")
    return path


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + system, all threads) of one process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err[-2000:]}")
    if proc.stderr:
        proc.stderr.close()
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def summarize(label: str, samples: list[tuple[float, int, float]]) -> dict:
    times, rss, cpu = ([s[i] for s in samples] for i in range(3))
    result = {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
              "runs_s": [round(t, 3) for t in times], "peak_rss_mb": round(statistics.median(rss) / 1024, 1),
              "median_cpu_s": round(statistics.median(cpu), 3)}
    print(f"  {label:<42} {result['median_s']:>7.3f} s wall  {result['median_cpu_s']:>7.3f} s cpu  "
          f"{result['peak_rss_mb']:>7.1f} MB", flush=True)
    return result


def measure_side_by_side(where: str, tools: dict[str, tuple], runs: int) -> dict[str, dict]:
    """Run every tool once per round, alternating their order round by round, so that load on a shared
    machine falls on all of them alike. A tool is (command factory, env, prepare before each run or None)."""
    samples: dict[str, list] = {name: [] for name in tools}
    names = list(tools)
    for round_no in range(runs):
        for name in names if round_no % 2 == 0 else reversed(names):
            make_cmd, env, prepare = tools[name]
            if prepare:
                prepare()
            samples[name].append(run(make_cmd(), env))
    return {name: summarize(f"{where} {name}", samples[name]) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--images", default="debian-bookworm-minbase,debian-python-app")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hullscan-bench-"))
    byte_compile_hullscan()
    env = {**os.environ, "HOME": str(work / "home"), "SYFT_CHECK_FOR_APP_UPDATE": "false",
           "SYFT_REGISTRY_INSECURE_USE_HTTP": "true"}
    env.pop("HULLSCAN_SCANNER_CACHE_DIR", None)
    hullscan, syft, trivy = tool("hullscan"), tool("syft"), tool("trivy")
    hs_cache = work / "hullscan-cache"
    trivy_cache = work / "trivy-cache"

    def reset(path: Path):
        return lambda: shutil.rmtree(path, ignore_errors=True)

    from tests.scanner.distribution import Distribution

    registry = Distribution(work).start()
    out = work / "out.json"
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load_avg_at_start": os.getloadavg()},
                     "runs": args.runs, "images": {}}
    try:
        for name in args.images.split(","):
            layout = IMAGES_DIR / name
            registry.push(layout, f"bench/{name}")
            ref = f"{registry.host}/bench/{name}:latest"
            print(f"{name}", flush=True)
            hs_env = {**env, "HULLSCAN_SCANNER_CACHE_DIR": str(hs_cache)}
            r: dict = {}
            for where, hs_src, syft_src, trivy_args in (
                ("layout", f"oci-dir:{layout}", f"oci-dir:{layout}", ["--input", str(layout)]),
                ("registry", f"docker://{ref}", f"registry:{ref}", ["--image-src", "remote", "--insecure", ref]),
            ):
                hs_extra = ["--insecure"] if where == "registry" else []
                def hs_cmd(hs_src: str = hs_src, hs_extra: list[str] = hs_extra) -> list[str]:
                    return [hullscan, "sbom", hs_src, *hs_extra, "--output", str(out)]

                def trivy_cmd(trivy_args: list[str] = trivy_args) -> list[str]:
                    return [trivy, "image", *trivy_args, "--format", "cyclonedx", "--cache-dir", str(trivy_cache),
                            "--skip-db-update", "--offline-scan", "--quiet", "--output", str(out)]

                def syft_cmd(syft_src: str = syft_src) -> list[str]:
                    return [syft, "scan", syft_src, "-o", "cyclonedx-json", "-q", "--file", str(out)]
                cold = measure_side_by_side(where, {
                    "hullscan sbom (cold)": (hs_cmd, hs_env, reset(hs_cache)),
                    "trivy (cold)": (trivy_cmd, env, reset(trivy_cache)),
                    "syft (no cache)": (syft_cmd, env, None)}, args.runs)
                run(hs_cmd(), hs_env)
                run(trivy_cmd(), env)
                warm = measure_side_by_side(where, {
                    "hullscan sbom (warm)": (hs_cmd, hs_env, None),
                    "trivy (warm)": (trivy_cmd, env, None)}, args.runs)
                r[where] = {"hullscan_cold": cold["hullscan sbom (cold)"], "trivy_cold": cold["trivy (cold)"],
                            "syft": cold["syft (no cache)"], "hullscan_warm": warm["hullscan sbom (warm)"],
                            "trivy_warm": warm["trivy (warm)"]}
            results["images"][name] = r
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)
    results["machine"]["load_avg_at_end"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scanner.json").write_text(json.dumps(results, indent=2))
    (RESULTS / "scanner.md").write_text(render(results))
    print(f"wrote {RESULTS / 'scanner.json'} and {RESULTS / 'scanner.md'}")


def render(results: dict) -> str:
    header = ["| image | source | hullscan sbom cold | trivy cold | syft | hullscan sbom warm | trivy warm "
              "| cold ratio (hullscan/trivy) | warm ratio (hullscan/trivy) |", "|---|---|---|---|---|---|---|---|---|"]
    lines = ["# Scanner benchmark: hullscan vs syft vs trivy", "",
             f"Median of {results['runs']} rounds; in each round every tool runs once, in alternating order. "
             f"Machine: {results['machine']['cpus']} CPUs, load average at start "
             f"{tuple(round(x, 1) for x in results['machine']['load_avg_at_start'])}, at end "
             f"{tuple(round(x, 1) for x in results['machine']['load_avg_at_end'])}.", "",
             "`hullscan sbom` as installed (its console script; modules byte-compiled first, as an install does, "
             "since this machine sets PYTHONDONTWRITEBYTECODE). Cold = empty caches (hullscan's layer cache, "
             "trivy's --cache-dir; syft has none). Warm = the same image scanned before: hullscan answers from its "
             "image-level SBOM memo (one manifest request, or one manifest read for a layout), trivy from its "
             "layer cache.", "", "Wall seconds (peak RSS):", "", *header]
    for name, per in results["images"].items():
        for where, r in per.items():
            cell = lambda k, r=r: f"{r[k]['median_s']:.2f} s ({r[k]['peak_rss_mb']:.0f} MB)"  # noqa: E731
            lines.append(
                f"| {name} | {where} | {cell('hullscan_cold')} | {cell('trivy_cold')} | {cell('syft')} "
                f"| {cell('hullscan_warm')} | {cell('trivy_warm')} "
                f"| {r['hullscan_cold']['median_s'] / r['trivy_cold']['median_s']:.2f}x "
                f"| {r['hullscan_warm']['median_s'] / r['trivy_warm']['median_s']:.2f}x |")
    lines += ["", "CPU seconds (user + system, all threads; robust to other load on the machine):", "", *header]
    for name, per in results["images"].items():
        for where, r in per.items():
            cpu = lambda k, r=r: f"{r[k]['median_cpu_s']:.2f} s"  # noqa: E731
            lines.append(
                f"| {name} | {where} | {cpu('hullscan_cold')} | {cpu('trivy_cold')} | {cpu('syft')} "
                f"| {cpu('hullscan_warm')} | {cpu('trivy_warm')} "
                f"| {r['hullscan_cold']['median_cpu_s'] / r['trivy_cold']['median_cpu_s']:.2f}x "
                f"| {r['hullscan_warm']['median_cpu_s'] / r['trivy_warm']['median_cpu_s']:.2f}x |")
    lines += ["", "Targets (issue 3): cold <= 1.0x trivy cold, warm <= 1.0x trivy warm, peak RSS <= 150 MB.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

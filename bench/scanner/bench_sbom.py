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


def measure(label: str, make_cmd, runs: int, env: dict[str, str], fresh_cache=None, warmup=None) -> dict:
    times, rss, cpu = [], [], []
    if warmup:
        warmup()
    for _ in range(runs):
        if fresh_cache:
            fresh_cache()
        t, m, c = run(make_cmd(), env)
        times.append(t)
        rss.append(m)
        cpu.append(c)
    result = {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
              "runs_s": [round(t, 3) for t in times], "peak_rss_mb": round(statistics.median(rss) / 1024, 1),
              "median_cpu_s": round(statistics.median(cpu), 3)}
    print(f"  {label:<42} {result['median_s']:>7.3f} s wall  {result['median_cpu_s']:>7.3f} s cpu  "
          f"{result['peak_rss_mb']:>7.1f} MB", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--images", default="debian-bookworm-minbase,debian-python-app")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hullscan-bench-"))
    # Measure hullscan as installed: a pip install compiles every module to bytecode. This environment sets
    # PYTHONDONTWRITEBYTECODE, so without this each run would compile hullscan's own modules again (~0.13 s).
    package = subprocess.run([sys.executable, "-c", "import hullscan, os; print(os.path.dirname(hullscan.__file__))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True)
    env = {**os.environ, "HOME": str(work / "home"), "SYFT_CHECK_FOR_APP_UPDATE": "false",
           "SYFT_REGISTRY_INSECURE_USE_HTTP": "true"}
    env.pop("HULLSCAN_SCANNER_CACHE_DIR", None)
    hullscan, syft, trivy = tool("hullscan"), tool("syft"), tool("trivy")
    python = sys.executable
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
                hs_cmd = lambda: [hullscan, "sbom", hs_src, *hs_extra, "--output", str(out)]  # noqa: E731
                light_cmd = lambda: [python, "-m", "hullscan.scanner", hs_src, *hs_extra, "--output", str(out)]  # noqa: E731
                trivy_cmd = lambda: [trivy, "image", *trivy_args, "--format", "cyclonedx", "--cache-dir",  # noqa: E731
                                     str(trivy_cache), "--skip-db-update", "--offline-scan", "--quiet",
                                     "--output", str(out)]
                syft_cmd = lambda: [syft, "scan", syft_src, "-o", "cyclonedx-json", "-q", "--file", str(out)]  # noqa: E731
                r[where] = {
                    "hullscan_cold": measure(f"{where} hullscan sbom (cold)", hs_cmd, args.runs, hs_env, reset(hs_cache)),
                    "hullscan_light_cold": measure(f"{where} python -m hullscan.scanner (cold)", light_cmd, args.runs,
                                                   hs_env, reset(hs_cache)),
                    "trivy_cold": measure(f"{where} trivy (cold)", trivy_cmd, args.runs, env, reset(trivy_cache)),
                    "syft": measure(f"{where} syft (no cache)", syft_cmd, args.runs, env),
                    "hullscan_warm": measure(f"{where} hullscan sbom (warm)", hs_cmd, args.runs, hs_env,
                                             warmup=lambda: run(hs_cmd(), hs_env)),
                    "hullscan_light_warm": measure(f"{where} python -m hullscan.scanner (warm)", light_cmd, args.runs,
                                                   hs_env, warmup=lambda: run(light_cmd(), hs_env)),
                    "trivy_warm": measure(f"{where} trivy (warm)", trivy_cmd, args.runs, env,
                                          warmup=lambda: run(trivy_cmd(), env)),
                }
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
    lines = ["# Scanner benchmark: hullscan vs syft vs trivy", "",
             f"Median of {results['runs']} runs; wall seconds (peak RSS MB). Machine: {results['machine']['cpus']} "
             f"CPUs, load average at start {tuple(round(x, 1) for x in results['machine']['load_avg_at_start'])}, "
             f"at end {tuple(round(x, 1) for x in results['machine']['load_avg_at_end'])}.", "",
             "`hullscan sbom` is the full CLI (imports every part); `python -m hullscan.scanner` is the scanner's "
             "own light entry with the same options. hullscan's modules are byte-compiled first, as an install "
             "does (this machine sets PYTHONDONTWRITEBYTECODE). Warm = the same image scanned before: hullscan "
             "answers from its image-level SBOM memo (one manifest request, or one manifest read for a layout), "
             "trivy from its layer cache.", "",
             "| image | source | hullscan sbom cold | light cold | trivy cold | syft | hullscan sbom warm | light warm "
             "| trivy warm | cold ratio (light/trivy) | warm ratio (light/trivy) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, per in results["images"].items():
        for where, r in per.items():
            cell = lambda k: f"{r[k]['median_s']:.2f} s ({r[k]['peak_rss_mb']:.0f} MB)"  # noqa: E731
            lines.append(
                f"| {name} | {where} | {cell('hullscan_cold')} | {cell('hullscan_light_cold')} | {cell('trivy_cold')} "
                f"| {cell('syft')} | {cell('hullscan_warm')} | {cell('hullscan_light_warm')} | {cell('trivy_warm')} "
                f"| {r['hullscan_light_cold']['median_s'] / r['trivy_cold']['median_s']:.2f}x "
                f"| {r['hullscan_light_warm']['median_s'] / r['trivy_warm']['median_s']:.2f}x |")
    lines += ["", "CPU seconds (user + system, all threads; robust to other load on the machine):", "",
              "| image | source | hullscan sbom cold | light cold | trivy cold | syft | hullscan sbom warm | light warm "
              "| trivy warm | cold ratio (light/trivy) | warm ratio (light/trivy) |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, per in results["images"].items():
        for where, r in per.items():
            cpu = lambda k: f"{r[k]['median_cpu_s']:.2f} s"  # noqa: E731
            lines.append(
                f"| {name} | {where} | {cpu('hullscan_cold')} | {cpu('hullscan_light_cold')} | {cpu('trivy_cold')} "
                f"| {cpu('syft')} | {cpu('hullscan_warm')} | {cpu('hullscan_light_warm')} | {cpu('trivy_warm')} "
                f"| {r['hullscan_light_cold']['median_cpu_s'] / r['trivy_cold']['median_cpu_s']:.2f}x "
                f"| {r['hullscan_light_warm']['median_cpu_s'] / r['trivy_warm']['median_cpu_s']:.2f}x |")
    lines += ["", "Targets (issue 3): cold <= 1.0x trivy cold, warm <= 1.0x trivy warm, peak RSS <= 150 MB.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""Numbers and tables of tests/bench/bench_load.py: percentiles, the summary of a
level, the printed table, CPU accounting, and the py-spy profile's digest."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

KINDS = ("page", "media", "draft", "submit", "ping")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summarize(level: int, recorder, elapsed: float) -> dict:
    """The figures of one level from its ``Recorder`` (bench_load.py)."""
    rows = {}
    everything = []
    for kind in KINDS:
        values = recorder.latency.get(kind, [])
        if kind != "ping":
            everything += values
        rows[kind] = {
            "n": len(values),
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "p99": percentile(values, 99),
            "errors": recorder.errors[kind],
        }
    total_errors = sum(v for k, v in recorder.errors.items() if k != "ping")
    return {
        "experts": level,
        "seconds": elapsed,
        "requests": len(everything),
        "throughput": len(everything) / elapsed,
        "p50": percentile(everything, 50),
        "p95": percentile(everything, 95),
        "p99": percentile(everything, 99),
        "errors": total_errors,
        "error_samples": recorder.error_samples,
        "kinds": rows,
        "ratio_p50": rows["page"]["p50"] / rows["ping"]["p50"],
        "ratio_p95": rows["page"]["p95"] / rows["ping"]["p95"],
    }


def ms(value: float) -> str:
    return f"{value * 1000:7.1f}"


def print_table(results: list[dict], args, logins: dict | None) -> None:
    print()
    print(
        f"evalsite load benchmark — think {args.think:g} s mean, {args.drafts} drafts an item, "
        f"{args.duration:g} s measured "
        f"per level, gunicorn {args.workers}×{args.threads} (gthread), PostgreSQL + Redis, "
        f"127.0.0.1, {sys.platform}, {os.cpu_count()} cores"
    )
    print()
    print(
        f"{'experts':>7} {'req/s':>7} {'requests':>8} {'errors':>6} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}   "
        f"{'page p50':>8} {'page p95':>8} {'ping p50':>8} {'ping p95':>8} {'page/ping':>9}"
    )
    for r in results:
        page, ping = r["kinds"]["page"], r["kinds"]["ping"]
        print(
            f"{r['experts']:>7} {r['throughput']:7.1f} {r['requests']:>8} {r['errors']:>6} "
            f"{ms(r['p50'])} {ms(r['p95'])} {ms(r['p99'])}   "
            f"{ms(page['p50']):>8} {ms(page['p95']):>8} {ms(ping['p50']):>8} "
            f"{ms(ping['p95']):>8} {r['ratio_p50']:5.1f}/{r['ratio_p95']:.1f}"
        )
    print()
    print("per request kind (p50 / p95 / p99 ms, errors):")
    for r in results:
        parts = [
            f"{kind} {ms(v['p50']).strip()}/{ms(v['p95']).strip()}/{ms(v['p99']).strip()}"
            + (f" ({v['errors']} err)" if v["errors"] else "")
            for kind, v in r["kinds"].items()
        ]
        print(f"  {r['experts']:>4} experts: " + "; ".join(parts))
        for sample in r["error_samples"]:
            print(f"        e.g. {sample}")
    print()
    print("CPU used while measured (cores busy on average; the machine has 2):")
    for r in results:
        cpu = r["cpu"]
        own = {k: v for k, v in cpu.items() if k != "machine"}
        others = max(0.0, cpu["machine"] - sum(own.values()))
        parts = [f"{name} {value:.2f}" for name, value in own.items()]
        print(
            f"  {r['experts']:>4} experts: " + ", ".join(parts) + f", other processes {others:.2f}"
        )
    if logins:
        print()
        print(
            f"login (PBKDF2, {logins['n']} logins, 4 at a time): p50 {ms(logins['p50']).strip()} "
            f"ms, p95 {ms(logins['p95']).strip()} ms, errors {logins['errors']}"
        )
    goal = next((r for r in results if r["experts"] == 300), None)
    if goal:
        met = goal["p95"] <= 0.200 and goal["errors"] == 0
        print()
        print(
            f"goal (300 experts, p95 ≤ 200 ms, no errors): {'MET' if met else 'MISSED'} "
            f"(p95 {goal['p95'] * 1000:.0f} ms, {goal['errors']} errors)"
        )


def profile(master_pid: int, seconds: float, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(master_pid),
            "--subprocesses",
            "--duration",
            str(int(seconds)),
            "--rate",
            "50",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


AREAS = [  # (label, test on one stack's frames), the first that matches names the sample
    ("importing modules (a new worker's first requests)", lambda f: "importlib" in f[-1]),
    ("waiting for PostgreSQL (a query's round trip)", lambda f: "psycopg" in f[-1]),
    ("template rendering", lambda f: any("django/template" in x for x in f)),
    ("ORM: building SQL, making model objects", lambda f: any("django/db/" in x for x in f)),
    ("sessions, auth, CSRF, other middleware", lambda f: any("middleware" in x for x in f[-6:])),
    ("everything else (gunicorn, views' own code, JSON)", lambda f: True),
]
VIEWS = re.compile(r"^(\w+) \((apps/[\w/]+\.py):\d+\)$")


def print_profile(path: Path) -> None:
    """Where the workers' busy samples go: by area, and by view."""
    if not path.exists():
        print("py-spy wrote no profile (ptrace not allowed?)")
        return
    areas: Counter = Counter()
    views: Counter = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        if "select" in leaf.lower() or "wait (threading" in leaf or "_wait_for_tstate" in leaf:
            continue  # idle: a thread waiting for a connection or for work
        if not any("django/core/handlers" in f for f in frames):
            continue  # gunicorn's own loop
        n = int(count)
        total += n
        areas[next(label for label, test in AREAS if test(frames))] += n
        view = next(
            (f"{m[2]}:{m[1]}" for f in reversed(frames) if (m := VIEWS.match(f)) and "views" in f),
            None,
        ) or next(
            (f"{m[2]}:{m[1]}" for f in reversed(frames) if (m := VIEWS.match(f))),
            "other",
        )
        views[view] += n
    if not total:
        print("no busy samples")
        return
    print()
    print(f"profile of the gunicorn workers during the last level ({total} samples in requests)")
    for label, n in areas.most_common():
        print(f"  {100 * n / total:5.1f}%  {label}")
    print("by view (innermost project function on the stack):")
    for view, n in views.most_common(8):
        print(f"  {100 * n / total:5.1f}%  {view}")


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process tree (and this process)."""
    import psutil

    used = {}
    for name, pid in pids.items():
        total = 0.0
        try:
            root = psutil.Process(pid)
            for process in [root, *root.children(recursive=True)]:
                try:
                    times = process.cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    continue
        except psutil.NoSuchProcess:
            pass
        used[name] = total
    times = psutil.Process().cpu_times()
    used["load generator"] = times.user + times.system
    used["machine"] = sum(psutil.cpu_times()[:3])  # user + nice + system, all processes
    return used

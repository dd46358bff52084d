"""Plots for docs/performance.md from the CSVs the load tools write (matplotlib; install with
``pip install -e '.[load]'``).

    .venv/bin/python load/plot.py stress docs/performance/stress.csv docs/performance/stress.png
    .venv/bin/python load/plot.py soak RUN_DIR/resources.csv docs/performance/soak.png
    .venv/bin/python load/plot.py faults RUN_DIR/probe.csv docs/performance/faults.png \\
        --report RUN_DIR/report.json
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SLO_P95_MS, SLO_QUEUE_DEPTH = 300, 10


def read(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def stress(rows: list[dict], png: Path) -> None:
    fig, (lat, queue) = plt.subplots(1, 2, figsize=(11, 4.2))
    for workers in sorted({r["worker_processes"] for r in rows}):
        mine = [r for r in rows if r["worker_processes"] == workers]
        x = [float(r["jobs_per_s"]) for r in mine]
        label = f"{workers} worker process{'es' if workers != '1' else ''}"
        lat.plot(x, [float(r["e2e_p95_ms"]) for r in mine], "o-", label=f"P95, {label}")
        for r, xi in zip(mine, x, strict=True):
            lat.annotate(r["users"], (xi, float(r["e2e_p95_ms"])), fontsize=7,
                         textcoords="offset points", xytext=(3, 3))
        queue.plot(x, [float(r["max_queue_depth"]) for r in mine], "o-", label=label)
    lat.axhline(SLO_P95_MS, color="red", linestyle="--", label="SLO 300 ms")
    lat.set(xlabel="jobs/s (finished, seen by clients)", ylabel="P95 end to end (ms)",
            yscale="log", title="Latency vs throughput (labels: users)")
    queue.axhline(SLO_QUEUE_DEPTH, color="red", linestyle="--", label="SLO 10")
    queue.set(xlabel="jobs/s", ylabel="max pxl_queue_depth", title="Queue depth vs throughput")
    lat.legend(fontsize=8)
    queue.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def soak(rows: list[dict], png: Path) -> None:
    t = [float(r["t_s"]) / 60 for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4))
    for name in ("api", "worker", "load_generator"):
        if f"{name}_rss_mib" in rows[0]:
            ax.plot(t, [float(r[f"{name}_rss_mib"]) for r in rows], label=f"{name} RSS")
    ax.set(xlabel="minutes", ylabel="MiB (process tree)", title="Resident memory during the soak")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def faults(rows: list[dict], png: Path, report: dict | None) -> None:
    fig, ax = plt.subplots(figsize=(9, 4))
    ok = [r for r in rows if r["ok"] == "True"]
    bad = [r for r in rows if r["ok"] != "True"]
    ax.plot([float(r["t_s"]) for r in ok], [float(r["latency_s"]) for r in ok], ".",
            color="tab:blue", label="probe answered 200 (job done)")
    ax.plot([float(r["t_s"]) for r in bad], [float(r["latency_s"]) for r in bad], "x",
            color="tab:red", label="probe not answered 200")
    for name, f in (report or {}).get("faults", {}).items():
        ax.axvline(f["at_s"], color="gray", linestyle=":")
        ax.annotate(name.split(",")[0], (f["at_s"], ax.get_ylim()[1] * 0.9), fontsize=7,
                    rotation=90, va="top")
    ax.set(xlabel="seconds", ylabel="probe latency (s)", yscale="log",
           title="A client submitting one proof a second (Prefer: wait=5) during the faults")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("stress", "soak", "faults"))
    parser.add_argument("csv", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--report", type=Path, help="faults: report.json (fault times)")
    args = parser.parse_args(argv)
    rows = read(args.csv)
    if args.kind == "stress":
        stress(rows, args.png)
    elif args.kind == "soak":
        soak(rows, args.png)
    else:
        faults(rows, args.png, json.loads(args.report.read_text()) if args.report else None)
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

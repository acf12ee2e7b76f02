"""Time from ``imr-analysis app --demo`` to a ready page in Chromium, and the server's memory.

    python benchmarks/bench_webapp.py [--repeats N] [--json PATH]

Each repeat starts a fresh server; the clock starts just before the server process is
spawned (the browser is already open, as a user's is) and stops when the page reports
the analysis ready and all four views show an image. Memory is the server's resident
set then (``VmRSS``) and its peak (``VmHWM``). Targets from the issue: ready <= 15 s,
memory <= 1 GB. Not a test: timings belong in a report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from playwright.sync_api import sync_playwright

from IMRAnalysisLib.webapp.process import CHROMIUM, CHROMIUM_ARGS, PAGE_READY_JS, memory_mib, running_app

TARGET_READY_S = 15.0
TARGET_MEMORY_MIB = 1024.0
PAGE_TIMEOUT_MS = 120_000


def measure_once(browser) -> dict[str, float]:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    start = time.perf_counter()
    with running_app(["--demo"]) as (url, process):
        listening = time.perf_counter() - start
        page.goto(url)
        page.wait_for_function(PAGE_READY_JS, timeout=PAGE_TIMEOUT_MS)
        ready = time.perf_counter() - start
        figures = {
            "listening_s": listening,
            "ready_s": ready,
            "rss_mib": memory_mib(process, "VmRSS"),
            "peak_rss_mib": memory_mib(process, "VmHWM"),
        }
    page.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        runs = [measure_once(browser) for _ in range(args.repeats)]
        browser.close()
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    print(f"{args.repeats} runs, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print("| figure | median | runs | target |")
    print("|---|---|---|---|")
    targets = {"ready_s": f"<= {TARGET_READY_S:g} s", "peak_rss_mib": f"<= {TARGET_MEMORY_MIB:g} MiB"}
    for key, value in median.items():
        values = ", ".join(f"{run[key]:.1f}" for run in runs)
        print(f"| {key} | {value:.1f} | {values} | {targets.get(key, '')} |")
    verdict = median["ready_s"] <= TARGET_READY_S and median["peak_rss_mib"] <= TARGET_MEMORY_MIB
    print(f"targets {'met' if verdict else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"runs": runs, "median": median}, handle, indent=2)


if __name__ == "__main__":
    main()

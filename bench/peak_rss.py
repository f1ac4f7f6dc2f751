#!/usr/bin/env python3
"""Which documents drive a worker's memory: runs every file of the given
directories through `docmill analyze --workers 1 --max-jobs-per-worker 1`
(a fresh worker for each document, so one document's leftovers never count
against the next) and ranks the files by the report's
`timing.peak_rss_bytes` (the worker's resident high-water mark during that
document, shared pages included).

Run from the repository root after `cargo build --release`:
    python3 bench/peak_rss.py [--top 10] [DIR ...]
DOCMILL_BIN names another binary. DIR defaults to ../shared/corpus.
Figures go to BENCHMARKS.md; nothing here is a test.
"""

import argparse
import json
import os
import subprocess


import support



def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("dirs", nargs="*", default=support.DEFAULT_DIRS)
    args = parser.parse_args()

    files = support.corpus_files(args.dirs)
    if files is None:
        return

    rows = []
    for path in files:
        run = subprocess.run(
            [support.BINARY, "analyze", "--workers", "1", "--max-jobs-per-worker", "1", path],
            capture_output=True,
            text=True,
            timeout=300,
        )
        line = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "{}"
        report = json.loads(line)
        timing = report.get("timing") or (report.get("report") or {}).get("timing") or {}
        peak = timing.get("peak_rss_bytes", 0)
        label = os.path.relpath(path, os.path.commonpath(args.dirs) if len(args.dirs) > 1 else args.dirs[0])
        rows.append((peak, os.path.getsize(path), timing.get("analysis_ms", 0), label))

    rows.sort(reverse=True)
    print("| document | size | worker peak RSS | analysis |")
    print("| --- | ---: | ---: | ---: |")
    for peak, size, ms, label in rows[: args.top]:
        print(f"| `{label}` | {size / 1024:.0f} KiB | {peak / (1 << 20):.1f} MiB | {ms} ms |")
    peaks = sorted(r[0] for r in rows)
    print(f"{len(rows)} documents; median worker peak {peaks[len(peaks) // 2] / (1 << 20):.1f} MiB")


if __name__ == "__main__":
    main()

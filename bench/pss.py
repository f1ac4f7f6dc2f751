"""Memory of the whole service on a corpus run: starts `docmill serve
--workers 2`, uploads every document of the corpus (several times over)
from 4 clients, and samples the proportional set size (Pss, from
/proc/PID/smaps_rollup, as smem counts it) of the server, the supervisor
and every worker every 50 ms. Prints the peak and the median of the summed
Pss, each process kind's peak, and what each kind held at the peak.

Run from the repository root after `cargo build --release`:
    python3 bench/pss.py [--repeat 3] [DIR ...]
DOCMILL_BIN names another binary. DIR defaults to ../shared/corpus.
"""

import argparse
import os
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


import support



def pss_kib(pid):
    """Pss of one process in KiB, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def descendants(pid):
    """(pid, depth) of the process and all its descendants."""
    out, pending = [], [(pid, 0)]
    while pending:
        p, depth = pending.pop()
        out.append((p, depth))
        pending += [(c, depth + 1) for c in children(p)]
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("dirs", nargs="*", default=support.DEFAULT_DIRS)
    args = parser.parse_args()

    files = support.corpus_files(args.dirs)
    if files is None:
        return
    files = files * args.repeat

    data_dir = tempfile.mkdtemp(prefix="docmill-pss-")
    server, base = support.start_server(data_dir, ("--workers", "2"))

    samples, peaks = [], {"server": 0, "supervisor": 0, "workers": 0}
    at_peak = {}
    running = True

    def sample():
        while running:
            total, kinds = 0, {"server": 0, "supervisor": 0, "workers": 0}
            for pid, depth in descendants(server.pid):
                kib = pss_kib(pid) or 0
                total += kib
                kinds[["server", "supervisor", "workers"][min(depth, 2)]] += kib
            if not samples or total > max(samples):
                at_peak.update(kinds)
            samples.append(total)
            for kind, kib in kinds.items():
                peaks[kind] = max(peaks[kind], kib)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    statuses = {}
    lock = threading.Lock()

    def client(mine):
        for path in mine:
            with open(path, "rb") as f:
                body = f.read()
            name = urllib.parse.quote(os.path.basename(path))
            req = urllib.request.Request(f"{base}/v1/analyze?filename={name}", data=body, method="PUT")
            try:
                with urllib.request.urlopen(req, timeout=300) as response:
                    status = response.status
            except urllib.error.HTTPError as err:
                status = err.code
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(files[i :: args.clients],)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    running = False
    sampler.join()
    server.terminate()
    server.wait(timeout=30)

    print(f"{len(files)} uploads in {elapsed:.1f} s, statuses {dict(sorted(statuses.items()))}, {len(samples)} samples")
    print(f"whole service Pss: peak {max(samples) / 1024:.1f} MiB, median {statistics.median(samples) / 1024:.1f} MiB")
    print("peaks by kind: " + ", ".join(f"{kind} {kib / 1024:.1f} MiB" for kind, kib in peaks.items()))
    print("at the peak: " + ", ".join(f"{kind} {kib / 1024:.1f} MiB" for kind, kib in at_peak.items()))


if __name__ == "__main__":
    main()

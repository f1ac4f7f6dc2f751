#!/usr/bin/env python3
"""Peak resident memory of `docmill serve` while it answers one `/v1/batch`
of N identical tiny parts (the near-duplicate summary's worst case), or, with
`--job`, a job of N such parts and three GETs of its results.

Usage: bench/batch_rss.py [--job] BINARY N [N ...]

Starts BINARY on a free loopback port for each N, sends the batch (or the
job), reads the summary line, and prints the server's VmHWM (peak RSS, from
/proc) with the summary's size. Run it under `prlimit --as=BYTES` to see
what a memory cap does. Figures go to BENCHMARKS.md; nothing here is a test.
"""

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def post_job_and_read_results(connection, body, content_type):
    connection.request("POST", "/v1/jobs", body, {"Content-Type": content_type})
    job = json.loads(connection.getresponse().read())
    while True:
        connection.request("GET", f"/v1/jobs/{job['id']}")
        if json.loads(connection.getresponse().read())["status"] == "done":
            break
        time.sleep(0.2)
    for _ in range(3):
        connection.request("GET", f"/v1/jobs/{job['id']}/results")
        lines = connection.getresponse().read().splitlines()
    return lines


def run(binary, n, job):
    boundary = "batch-rss-boundary"
    part = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.txt\"\r\n"
        "Content-Type: text/plain\r\n\r\nThe same few words, again and again.\r\n"
    ).encode()
    body = part * n + f"--{boundary}--\r\n".encode()
    with tempfile.TemporaryDirectory() as data_dir:
        server = subprocess.Popen(
            [binary, "serve", "--bind", "127.0.0.1:0", "--workers", "2", "--data-dir", data_dir],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            line = server.stdout.readline().decode()
            host, port = line.strip().removeprefix("listening on http://").rsplit(":", 1)
            started = time.monotonic()
            connection = http.client.HTTPConnection(host, int(port), timeout=600)
            peak = [0]
            done = threading.Event()

            def sample():
                # VmHWM is gone once the process dies, so keep the last value.
                while not done.is_set():
                    peak[0] = peak_rss_kib(server.pid) or peak[0]
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample)
            sampler.start()
            try:
                content_type = f"multipart/form-data; boundary={boundary}"
                if job:
                    lines = post_job_and_read_results(connection, body, content_type)
                else:
                    connection.request("POST", "/v1/batch", body, {"Content-Type": content_type})
                    lines = connection.getresponse().read().splitlines()
                summary = json.loads(lines[-1])["summary"]
                outcome = (
                    f"{len(summary['near_duplicates'])} pairs, "
                    f"{len(summary.get('near_duplicate_groups', []))} groups, summary {len(lines[-1]):,} bytes"
                )
            except (OSError, http.client.HTTPException, ValueError, KeyError, IndexError) as err:
                outcome = f"failed: {err!r}"
            done.set()
            sampler.join()
            peak = peak_rss_kib(server.pid) or peak[0]
            if server.poll() is not None:
                outcome += f" (server exited {server.returncode})"
            elapsed = time.monotonic() - started
            what = "job + 3 GETs" if job else "batch"
            print(f"{what} n={n}: server peak RSS {peak / 1024:.0f} MiB, {elapsed:.1f} s, {outcome}", flush=True)
        finally:
            server.kill()
            server.wait()


def main():
    args = sys.argv[1:]
    job = bool(args) and args[0] == "--job"
    args = args[1:] if job else args
    if len(args) < 2:
        sys.exit(__doc__)
    for n in args[1:]:
        run(args[0], int(n), job)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

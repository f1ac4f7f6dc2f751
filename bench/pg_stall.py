"""The PostgreSQL store stalls: every backend of the node's database is
stopped (SIGSTOP) for a while, as a stuck disk or a frozen VM would, while
clients keep coming. Measures `/healthz`, `/readyz` and `/v1/analyze`
latency and what `POST /v1/jobs` and `GET /v1/jobs/ID` answer during the
stall, then resumes the backends (SIGCONT) and checks that every job
accepted (202) is done and none is lost.

Run from the repository root after `cargo build --release`, as a user that
may signal the postgres processes (root), with a database of its own:
    createdb attack4
    python3 bench/pg_stall.py 'postgres://root@/attack4?host=/var/run/postgresql' attack4 [SECONDS]
DOCMILL_BIN names another binary.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import support


def call(method, url, body=None, timeout=60):
    headers = {"Content-Type": "application/octet-stream"} if body is not None else {}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, answer = err.code, err.read()
    except OSError as err:
        return None, time.monotonic() - started, str(err).encode()
    return status, time.monotonic() - started, answer


def job(base, n):
    boundary = "xyz"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{n}.txt\"\r\n\r\n"
            f"Job number {n}, sent while the store may be stalled.\r\n--{boundary}--\r\n").encode()
    request = urllib.request.Request(base + "/v1/jobs", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, time.monotonic() - started, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, time.monotonic() - started, json.loads(err.read())
    except OSError as err:
        return None, time.monotonic() - started, {"error": str(err)}


def backends(database):
    out = subprocess.run(["psql", "-At", "-h", "/var/run/postgresql", "-d", "postgres", "-c",
                          f"select pid from pg_stat_activity where datname = '{database}' and pid <> pg_backend_pid()"],
                         capture_output=True, text=True, check=True).stdout
    return [int(pid) for pid in out.split()]


def percentile(values, share):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * share))] * 1000 if values else float("nan")


def main():
    url, database = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 20
    with tempfile.TemporaryDirectory() as data_dir:
        server, base = support.start_server(data_dir, ("--workers", "1", "--store", url), quiet=False)
        accepted, answers, probes = [], [], {"healthz": [], "readyz": [], "analyze": []}
        try:
            for _ in range(100):
                status, _, answer = call("GET", base + "/readyz")
                if status == 200 and b"reason" not in answer:
                    break
                time.sleep(0.1)
            for n in range(5):
                status, _, answer = job(base, n)
                assert status == 202, answer
                accepted.append(answer["id"])
            stopped = backends(database)
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)
            print(f"stopped {len(stopped)} backends of {database} for {seconds:.0f} s", flush=True)
            stop = threading.Event()

            def submit():
                n = 100
                while not stop.is_set():
                    status, took, answer = job(base, n)
                    answers.append((status, took, (answer.get("error") or {}).get("code") if "error" in answer else None))
                    if status == 202:
                        accepted.append(answer["id"])
                    n += 1

            def probe():
                while not stop.is_set():
                    for name, method, path, body in [("healthz", "GET", "/healthz", None), ("readyz", "GET", "/readyz", None),
                                                     ("analyze", "PUT", "/v1/analyze?filename=p.txt", b"A probe while the store is stalled.")]:
                        status, took, _ = call(method, base + path, body, timeout=30)
                        probes[name].append((status, took))
                    time.sleep(0.1)

            threads = [threading.Thread(target=submit, daemon=True), threading.Thread(target=probe, daemon=True)]
            for thread in threads:
                thread.start()
            time.sleep(seconds)
            status, took, answer = call("GET", f"{base}/v1/jobs/{accepted[0]}", timeout=60)
            print(f"GET /v1/jobs/ID during the stall: {status} in {took:.2f} s {answer[:120]!r}")
            ready = call("GET", base + "/readyz")
            print(f"/readyz during the stall: {ready[0]} {ready[2][:200]!r}")
        finally:
            for pid in backends(database):
                os.kill(pid, signal.SIGCONT)
        stop.set()
        for thread in threads:
            thread.join(timeout=130)
        print("resumed")
        for name, results in probes.items():
            statuses = {}
            for status, _ in results:
                statuses[status] = statuses.get(status, 0) + 1
            print(f"  {name}: {statuses}, p50 {percentile([t for _, t in results], 0.5):.1f} ms, "
                  f"p99 {percentile([t for _, t in results], 0.99):.1f} ms, max {percentile([t for _, t in results], 1.0):.0f} ms")
        summary = {}
        for status, took, code in answers:
            summary.setdefault((status, code), []).append(took)
        for (status, code), times in summary.items():
            print(f"  POST /v1/jobs during the stall: {len(times)} x {status} {code or ''}, max {max(times):.2f} s")
        deadline = time.monotonic() + 60
        pending = set(accepted)
        while pending and time.monotonic() < deadline:
            for job_id in list(pending):
                status, _, answer = call("GET", f"{base}/v1/jobs/{job_id}")
                if status == 200 and json.loads(answer)["status"] == "done":
                    pending.discard(job_id)
            time.sleep(0.5)
        print(f"accepted {len(accepted)} jobs; done after resuming: {len(accepted) - len(pending)}; lost or stuck: {len(pending)}")
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()

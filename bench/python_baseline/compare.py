"""Side-by-side measurements of docmill and the FastAPI + ProcessPoolExecutor
baseline in app.py: round trips per second of a 1 KiB document, and what
happens to other requests when one worker process is killed mid-job.

Run from the repository root after `cargo build --release` and
`pip install fastapi uvicorn python-multipart`:
    python3 bench/python_baseline/compare.py
"""

import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = (b"The committee reviewed the quarterly figures and approved the budget. " * 15)[:1024]
BOUNDARY = "compare-boundary"
ROUNDS, ROUND_SECS, CLIENTS = 5, 3.0, 4


def multipart(name, data):
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        f"Content-Type: text/plain\r\n\r\n".encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def post(conn, data, name="doc.txt"):
    body = multipart(name, data)
    conn.request("POST", "/v1/analyze", body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    response = conn.getresponse()
    return response.status, response.read()


def rate(port):
    done = [0] * CLIENTS
    deadline = time.monotonic() + ROUND_SECS

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        while time.monotonic() < deadline:
            status, _ = post(conn, DOC)
            assert status == 200, status
            done[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - started)


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def descendants(pid):
    found = []
    for child in children(pid):
        found.append(child)
        found.extend(descendants(child))
    return found


def kill_one_worker(server_pid, port, big):
    """Starts 4 slow requests, kills one worker process mid-job, and counts
    how the 4 requests and the next 8 end."""
    results = []

    def slow():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        results.append(post(conn, big)[0])

    threads = [threading.Thread(target=slow) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    workers = [p for p in descendants(server_pid)]
    busy = max(workers, key=lambda p: int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[11]))
    os.kill(busy, signal.SIGKILL)
    for t in threads:
        t.join()
    after = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(8):
        try:
            after.append(post(conn, DOC)[0])
        except Exception:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            after.append("error")
    return sorted(results, key=str), after


def start(command, port, cwd):
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{command} did not start")


def main():
    docmill = os.path.join(ROOT, "target/release/docmill")
    if not os.path.exists(docmill):
        raise SystemExit("build first: cargo build --release")
    big = b"word " * (4 << 20)
    servers = {
        "docmill": ([docmill, "serve", "--bind", "127.0.0.1:18080", "--workers", "2", "--data-dir", "/tmp/compare-data"], 18080, ROOT),
        "fastapi+ProcessPoolExecutor": (
            [sys.executable, "-m", "uvicorn", "--port", "18081", "--log-level", "warning", "app:app"], 18081,
            os.path.dirname(os.path.abspath(__file__)),
        ),
    }
    for name, (command, port, cwd) in servers.items():
        proc = start(command, port, cwd)
        try:
            rates = [rate(port) for _ in range(ROUNDS)]
            during, after = kill_one_worker(proc.pid, port, big)
            print(json.dumps({
                "server": name,
                "round_trips_per_s_median": round(statistics.median(rates)),
                "killed_worker_mid_job": {"in_flight_statuses": during, "next_8_statuses": after},
            }))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()

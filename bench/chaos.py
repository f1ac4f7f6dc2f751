"""docmill under fire: uploads every document of a corpus (several times
over) to a 2-worker server from 8 clients while SIGKILLing a busy worker
every few tens of milliseconds, then checks that every request got a JSON
answer, that the service is still healthy, that SIGTERM exits 0 and that no
docmill process is left behind.

Run from the repository root after `cargo build --release`:
    python3 bench/chaos.py [--repeat 5] [--kill-every 0.05] [DIR ...]
DOCMILL_BIN names another binary.
DIR defaults to ../shared/corpus.
"""

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


import support



def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--kill-every", type=float, default=0.05, help="seconds between kills; 0 for none")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("dirs", nargs="*", default=support.DEFAULT_DIRS)
    args = parser.parse_args()

    files = support.corpus_files(args.dirs)
    if files is None:
        return
    files = files * args.repeat

    data_dir = tempfile.mkdtemp(prefix="docmill-chaos-")
    server, base = support.start_server(data_dir, ("--workers", "2", "--queue", "64"))

    def request(method, path, body=None):
        req = urllib.request.Request(base + path, data=body, method=method)
        try:
            with urllib.request.urlopen(req, timeout=300) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    done = threading.Event()
    kills = 0

    def killer():
        nonlocal kills
        while args.kill_every > 0 and not done.wait(args.kill_every):
            try:
                pool = json.loads(request("GET", "/v1/pool")[1])
                busy = [w["pid"] for w in pool["workers"] if w["state"] == "busy"]
                if busy:
                    os.kill(random.choice(busy), signal.SIGKILL)
                    kills += 1
            except (OSError, ValueError):
                pass

    lock = threading.Lock()
    pending = list(files)
    answers = []
    crashed_files = collections.Counter()

    def client():
        while True:
            with lock:
                if not pending:
                    return
                path = pending.pop()
            with open(path, "rb") as f:
                body = f.read()
            name = urllib.parse.quote(os.path.basename(path))
            status, payload = request("PUT", "/v1/analyze?filename=" + name, body)
            try:
                error = json.loads(payload).get("error", {})
                code = error.get("code", "report")
                if error.get("message", "").startswith("not analysed again"):
                    code += " (quarantined, no worker killed)"
            except ValueError:
                code = "NOT JSON"
            with lock:
                answers.append((status, code))
                if code.startswith("worker_crashed"):
                    crashed_files[os.path.relpath(path, os.path.dirname(path.rstrip(os.sep)) + "/..")] += 1

    started = time.time()
    threads = [threading.Thread(target=killer)] + [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in threads[1:]:
        thread.start()
    threads[0].start()
    for thread in threads[1:]:
        thread.join()
    done.set()
    threads[0].join()
    elapsed = time.time() - started

    print(f"{len(files)} uploads, {len(answers)} answered in {elapsed:.1f} s; {kills} workers SIGKILLed")
    for (status, code), count in sorted(collections.Counter(answers).items()):
        print(f"  {status} {code}: {count}")
    if crashed_files:
        print("benign documents answered worker_crashed, most often first:")
        for name, count in crashed_files.most_common(10):
            print(f"  {count} x {name}")
    health = request("GET", "/healthz")
    restarts = json.loads(request("GET", "/v1/pool")[1])["restarts"]
    print(f"healthz {health[0]}; restarts {restarts}")
    server.send_signal(signal.SIGTERM)
    print(f"exit status after SIGTERM: {server.wait(timeout=60)}")
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", f"^{support.BINARY} "], capture_output=True, text=True).stdout.split()
    print(f"docmill processes left: {len(left)}")


if __name__ == "__main__":
    main()

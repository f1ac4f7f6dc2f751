#!/usr/bin/env python3
"""Jobs on a shared PostgreSQL store: documents/s of one job on 1, 2 and 3
nodes of one machine (the same cores, so the ratio is the overhead of
sharing, not scale), the store's cost per document against SQLite, and the
time from a node's SIGKILL to its claimed documents being finished by
another node.

usage: bench/shared_store.py DOCMILL_BINARY ADMIN_PG_URL [ROUNDS]
ADMIN_PG_URL must be allowed to CREATE DATABASE (e.g.
postgres://root@/postgres?host=/var/run/postgresql). Prints a Markdown table.
"""
import json, os, re, signal, statistics, subprocess, sys, tempfile, time, urllib.request, uuid

BIN, ADMIN = sys.argv[1], sys.argv[2]
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
DOCS = 300
WORKERS = "2"

def psql(url, sql):
    return subprocess.run(["psql", url, "-tAc", sql], check=True, capture_output=True, text=True).stdout.strip()

def db_url(name):
    base, _, query = ADMIN.partition("?")
    authority = base.split("://", 1)[1].split("/", 1)[0]
    return f"postgres://{authority}/{name}" + (f"?{query}" if query else "")

class Node:
    def __init__(self, store, lease="30"):
        self.dir = tempfile.TemporaryDirectory()
        self.err = open(os.path.join(self.dir.name, "stderr"), "w+")
        args = [BIN, "serve", "--bind", "127.0.0.1:0", "--workers", WORKERS, "--lease", lease]
        if store:
            args += ["--store", store]
        self.proc = subprocess.Popen(args, cwd=self.dir.name, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.addr = self.proc.stdout.readline().strip().removeprefix("listening on ")
        deadline = time.time() + 30
        while "reason" in self.get("/readyz") or len(self.get("/v1/pool")["workers"]) < int(WORKERS):
            assert time.time() < deadline, "node not ready"
            time.sleep(0.05)

    def get(self, path):
        with urllib.request.urlopen(self.addr + path) as r:
            return json.load(r)

    def post_job(self, docs):
        boundary = uuid.uuid4().hex
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode() + data + b"\r\n"
            for name, data in docs) + f"--{boundary}--\r\n".encode()
        req = urllib.request.Request(self.addr + "/v1/jobs", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req) as r:
            return json.load(r)["id"]

    def node_name(self):
        self.err.flush()
        m = re.search(r"leases are (\S+)", open(self.err.name).read())
        return m.group(1) if m else None

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait()

PROSE = ("The committee reviewed the quarterly report on regional water supply and found that "
         "consumption in the northern districts rose while reservoir levels held steady. ") * 8

def docs(round_, n=DOCS):
    return [(f"{i}.txt", f"Document {round_}-{i}. {PROSE}".encode()) for i in range(n)]

def wait_done(node, job):
    while True:
        s = node.get(f"/v1/jobs/{job}")
        if s["status"] == "done":
            return s
        time.sleep(0.02)

def job_rate(n_nodes, store):
    rates = []
    for r in range(ROUNDS):
        name = None
        if store:
            name = f"docmill_bench_{uuid.uuid4().hex[:12]}"
            psql(ADMIN, f"CREATE DATABASE {name}")
        nodes = [Node(db_url(name) if name else None) for _ in range(n_nodes)]
        job = nodes[0].post_job(docs(r))
        s = wait_done(nodes[0], job)
        rates.append(DOCS / ((s["finished_ms"] - s["created_ms"]) / 1000))
        for node in nodes:
            node.stop()
        if name:
            psql(ADMIN, f"DROP DATABASE {name} WITH (FORCE)")
    return statistics.median(rates)

def takeover():
    """SIGKILL node A mid-job; time until every document A held is finished."""
    times = []
    for r in range(ROUNDS):
        name = f"docmill_bench_{uuid.uuid4().hex[:12]}"
        psql(ADMIN, f"CREATE DATABASE {name}")
        url = db_url(name)
        a, b = Node(url, lease="2"), Node(url, lease="2")
        job = a.post_job(docs(100 + r, 3000))
        held = []
        while not held:
            held = psql(url, f"SELECT idx FROM documents WHERE lease_node = '{a.node_name()}' AND line IS NULL").split()
        a.stop(signal.SIGKILL)
        killed = time.time()
        held = [i for i in held if psql(url, f"SELECT line IS NULL FROM documents WHERE idx = {i}") == "t"]
        if not held:
            continue
        while psql(url, f"SELECT count(*) FROM documents WHERE idx IN ({','.join(held)}) AND line IS NULL") != "0":
            time.sleep(0.02)
        times.append(time.time() - killed)
        b.stop()
        psql(ADMIN, f"DROP DATABASE {name} WITH (FORCE)")
    return statistics.median(times)

sqlite = job_rate(1, False)
rates = {n: job_rate(n, True) for n in (1, 2, 3)}
print(f"| one job of {DOCS} distinct 1.3 KiB texts, {WORKERS} workers per node | documents/s | vs 1 node |")
print("| --- | --- | --- |")
print(f"| SQLite, 1 node | {sqlite:.0f} | |")
for n, rate in rates.items():
    print(f"| PostgreSQL, {n} node{'s' if n > 1 else ''} | {rate:.0f} | {rate / rates[1]:.2f} |")
print(f"\nstore cost per document (1 node, PostgreSQL - SQLite): {1000 / rates[1] - 1000 / sqlite:.2f} ms")
print(f"death to takeover (--lease 2, median of {ROUNDS}): {takeover():.2f} s")

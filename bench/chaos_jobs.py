#!/usr/bin/env python3
"""Durable jobs under fire: nodes, servers and workers SIGKILLed while jobs
run, then every job checked: status `done`, every document's index in
GET /v1/jobs/{id}/results exactly once, the summary's counts equal to the
lines, the job's `done`/`failed` equal to them too.

usage: bench/chaos_jobs.py SCENARIO [--rounds N] [--docs N]
  nodes    3 nodes on one PostgreSQL store (--lease 2); each round SIGKILLs
           one node's whole process group, or its server alone, or freezes
           it (SIGSTOP) for 5 s, or stops it with SIGTERM, in turn; restarts a killed one; and checks
           every job through a survivor
  upload   a node on the PostgreSQL store SIGKILLed with a /v1/jobs upload
           of --docs documents 10-100 % sent: nothing left half-stored
  submit   `docmill submit` of --docs files (copies among them) to a node
           SIGKILLed mid-run and restarted on the same port after 0.2, 1
           or 3 s in turn; then `--resume` if the run ended early; every
           file must have exactly one line
  local    one node on a data directory, SIGKILLed at a random moment and
           restarted on the same directory 10 times in a row, while small
           jobs keep arriving (every one answered 202 must end done)
  pg       2 nodes on one PostgreSQL store, PostgreSQL stopped for 5 s
           (even rounds) or restarted (odd rounds) mid-job
  workers  one node, a random busy worker SIGKILLed every 5-50 ms during
           a job of --docs documents and a /v1/batch of as many
Documents: every file of ../shared/corpus under 300 KB, then generated
texts (each distinct), as many as --docs; DOCMILL_CORPUS names another folder. DOCMILL_BIN names the binary;
DOCMILL_PG the admin URL (default the local socket as root).
"""
import argparse, json, os, random, signal, subprocess, sys, tempfile, time, uuid
import urllib.error, urllib.request

import support

PG = os.environ.get("DOCMILL_PG", "postgres://root@/postgres?host=/var/run/postgresql")
PROSE = "The council met on {} and reviewed the report on water, roads and schools in district {}. "


def corpus_small():
    dirs = [os.environ["DOCMILL_CORPUS"]] if "DOCMILL_CORPUS" in os.environ else support.DEFAULT_DIRS
    files = support.corpus_files(dirs) or []
    return [(os.path.basename(p), open(p, "rb").read()) for p in files if os.path.getsize(p) < 300_000]


def documents(n, tag):
    real = corpus_small()
    out = []
    for i in range(n):
        if i % 3 == 0 and real:
            name, data = real[(i // 3) % len(real)]
            out.append((f"{i}-{name}", data))
        else:
            out.append((f"{i}.txt", (PROSE.format(tag, i) * (5 + i % 40)).encode()))
    return out


def psql(url, sql):
    return subprocess.run(["psql", url, "-tAc", sql], check=True, capture_output=True, text=True).stdout.strip()


class Node:
    def __init__(self, args, data_dir=None):
        self.dir = data_dir or tempfile.mkdtemp(prefix="docmill-chaos-")
        self.args = args
        self.start()

    def start(self):
        self.log = open(os.path.join(self.dir, "stderr"), "a")
        self.proc = subprocess.Popen(
            [support.BINARY, "serve", *([] if "--bind" in self.args else ["--bind", "127.0.0.1:0"]),
             "--data-dir", self.dir, *self.args],
            stdout=subprocess.PIPE, stderr=self.log, text=True, start_new_session=True)
        self.base = self.proc.stdout.readline().strip().split()[-1]
        deadline = time.time() + 30
        while True:
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            assert time.time() < deadline, "node not ready"
            time.sleep(0.05)

    def request(self, method, path, body=None, headers=None, timeout=600):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def get(self, path):
        return json.loads(self.request("GET", path)[1])

    def post_job(self, docs):
        boundary = uuid.uuid4().hex
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
            + data + b"\r\n" for name, data in docs) + f"--{boundary}--\r\n".encode()
        status, payload = self.request("POST", "/v1/jobs", body,
                                       {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert status == 202, (status, payload[:300])
        return json.loads(payload)["id"]

    def kill(self, server_only=False):
        if server_only:
            self.proc.kill()
        else:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def leftovers(self):
        """Processes of the killed node's session still alive."""
        out = subprocess.run(["ps", "-o", "pid=,stat=", "-s", str(self.proc.pid)], capture_output=True, text=True)
        return [l for l in out.stdout.split("\n") if l.strip() and "Z" not in l.split()[1]]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=90)


def wait_done(node, job, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = node.get(f"/v1/jobs/{job}")
        if s["status"] not in ("queued", "running"):
            return s
        time.sleep(0.1)
    return node.get(f"/v1/jobs/{job}")


def check(node, job, n):
    """Problems with one finished job, as strings; empty when it is right."""
    s = wait_done(node, job)
    problems = []
    if s["status"] != "done":
        problems.append(f"status {s['status']}")
    lines = [json.loads(l) for l in node.request("GET", f"/v1/jobs/{job}/results")[1].splitlines() if l.strip()]
    summary = [l["summary"] for l in lines if "summary" in l]
    docs = [l for l in lines if "summary" not in l]
    seen = {}
    for l in docs:
        seen[l["index"]] = seen.get(l["index"], 0) + 1
    missing = [i for i in range(n) if i not in seen]
    twice = [i for i, c in seen.items() if c > 1]
    failed = sum(1 for l in docs if "error" in l)
    codes = {}
    for l in docs:
        if "error" in l:
            codes[l["error"]["code"]] = codes.get(l["error"]["code"], 0) + 1
    if missing:
        problems.append(f"{len(missing)} missing (first {missing[:5]})")
    if twice:
        problems.append(f"{len(twice)} twice (first {twice[:5]})")
    if len(summary) != 1:
        problems.append(f"{len(summary)} summaries")
    elif summary[0]["documents"] != n or summary[0]["failed"] != failed:
        problems.append(f"summary {summary[0]['documents']}/{summary[0]['failed']} vs {n}/{failed}")
    if s["done"] + s["failed"] != n and s["done"] != n:
        problems.append(f"status counts done={s['done']} failed={s['failed']}")
    if s.get("failed") is not None and s["failed"] != failed:
        problems.append(f"status failed={s['failed']} vs {failed} error lines")
    return problems, codes


def scenario_nodes(args):
    name = f"docmill_chaos_{uuid.uuid4().hex[:10]}"
    psql(PG, f"CREATE DATABASE {name}")
    base, _, query = PG.partition("?")
    authority = base.split("://", 1)[1].split("/", 1)[0]
    url = f"postgres://{authority}/{name}" + (f"?{query}" if query else "")
    flags = ["--workers", "2", "--store", url, "--lease", "2"]
    nodes = [Node(flags) for _ in range(3)]
    bad = 0
    for r in range(args.rounds):
        mode = ("whole node", "server only", "frozen 5 s", "SIGTERM")[r % 4]
        docs = documents(args.docs, f"r{r}")
        jobs = [nodes[i % 3].post_job(docs) for i in range(3)]
        victim = nodes[r % 3]
        time.sleep(random.uniform(0.3, 2.5))
        killed = time.time()
        if mode == "frozen 5 s":
            # SIGSTOP past the lease: the others take its documents over,
            # then it wakes up with results the store already has.
            os.killpg(victim.proc.pid, signal.SIGSTOP)
            time.sleep(5)
            os.killpg(victim.proc.pid, signal.SIGCONT)
            left = []
        elif mode == "SIGTERM":
            left = [f"exit status {victim.stop()}"]
        else:
            victim.kill(mode == "server only")
            time.sleep(0.5)
            left = victim.leftovers()
        survivor = nodes[(r + 1) % 3]
        results = [check(survivor, j, args.docs) for j in jobs]
        took = time.time() - killed
        if mode != "frozen 5 s":
            victim.start()
        held = psql(url, "SELECT count(*) FROM documents WHERE lease_node IS NOT NULL AND line IS NULL")
        for j, (problems, codes) in zip(jobs, results):
            bad += bool(problems)
            print(f"round {r} ({mode}) job {j[:8]}: "
                  f"{problems or 'ok'} errors {codes}")
        print(f"round {r}: kill to all 3 jobs over {took:.1f} s; processes of the killed node alive 0.5 s after: "
              f"{left if mode == 'SIGTERM' else len(left)}; leases left held {held}")
    for n in nodes:
        n.stop()
    psql(PG, f"DROP DATABASE {name} WITH (FORCE)")
    return bad


def scenario_local(args):
    import threading
    node = Node(["--workers", "2"])
    bad = 0
    for r in range(args.rounds):
        docs = documents(args.docs, f"l{r}")
        jobs = [node.post_job(docs) for _ in range(3)]
        # Meanwhile small jobs keep arriving: each one answered 202 must
        # survive the kills too, even one accepted just before a kill.
        small, stop, refused = [], threading.Event(), [0]

        def uploader():
            while not stop.is_set():
                try:
                    small.append(node.post_job(docs[:20]))
                except (OSError, AssertionError):
                    refused[0] += 1
                    time.sleep(0.05)
        t = threading.Thread(target=uploader)
        t.start()
        for k in range(10):
            time.sleep(random.uniform(0.05, 1.5))
            node.kill()
            node.start()
        stop.set()
        t.join()
        print(f"round {r}: {len(small)} small jobs accepted during the kills, {refused[0]} uploads cut")
        for j in small:
            problems, _ = check(node, j, 20)
            bad += bool(problems)
            if problems:
                print(f"round {r} small job {j[:8]}: {problems}")
        for j in jobs:
            problems, codes = check(node, j, args.docs)
            bad += bool(problems)
            print(f"round {r} job {j[:8]}: {problems or 'ok'} errors {codes}")
    node.stop()
    return bad


def scenario_workers(args):
    import threading
    node = Node(["--workers", "2"])
    stop = threading.Event()
    kills = [0]

    def killer():
        while not stop.wait(random.uniform(0.005, 0.05)):
            try:
                busy = [w["pid"] for w in node.get("/v1/pool")["workers"] if w["state"] == "busy"]
                if busy:
                    os.kill(random.choice(busy), signal.SIGKILL)
                    kills[0] += 1
            except (OSError, ValueError):
                pass

    bad = 0
    for r in range(args.rounds):
        docs = documents(args.docs, f"w{r}")
        kills[0] = 0
        t = threading.Thread(target=killer)
        t.start()
        job = node.post_job(docs)
        problems, codes = check(node, job, args.docs)
        stop.set(); t.join(); stop.clear()
        bad += bool(problems)
        print(f"round {r} job: {problems or 'ok'} errors {codes}; {kills[0]} workers killed")
        # the same documents through /v1/batch
        boundary = uuid.uuid4().hex
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
            + data + b"\r\n" for name, data in docs) + f"--{boundary}--\r\n".encode()
        kills[0] = 0
        t = threading.Thread(target=killer)
        t.start()
        status, payload = node.request("POST", "/v1/batch", body,
                                       {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        stop.set(); t.join(); stop.clear()
        lines = [json.loads(l) for l in payload.splitlines() if l.strip()]
        docs_l = [l for l in lines if "summary" not in l]
        summ = [l["summary"] for l in lines if "summary" in l]
        idx = sorted(l.get("index", -1) for l in docs_l)
        codes = {}
        for l in docs_l:
            if "error" in l:
                codes[l["error"]["code"]] = codes.get(l["error"]["code"], 0) + 1
        ok = status == 200 and idx == list(range(args.docs)) and len(summ) == 1 \
            and summ[0]["documents"] == args.docs and summ[0]["failed"] == sum(codes.values())
        bad += not ok
        print(f"round {r} batch: status {status}, {len(docs_l)} lines, {len(set(idx))} distinct, "
              f"summary {[(x['documents'], x['failed']) for x in summ]}, errors {codes}; {kills[0]} workers killed: {'ok' if ok else 'WRONG'}")
    node.stop()
    return bad


def scenario_pg(args):
    """PostgreSQL stopped (even rounds, for 5 s) or restarted (odd) mid-job
    under 2 nodes: new jobs 503 while it is away, every job done after."""
    name = f"docmill_chaos_{uuid.uuid4().hex[:10]}"
    psql(PG, f"CREATE DATABASE {name}")
    base, _, query = PG.partition("?")
    authority = base.split("://", 1)[1].split("/", 1)[0]
    url = f"postgres://{authority}/{name}" + (f"?{query}" if query else "")
    nodes = [Node(["--workers", "2", "--store", url, "--lease", "2"]) for _ in range(2)]
    bad = 0
    for r in range(args.rounds):
        docs = documents(args.docs, f"p{r}")
        jobs = [nodes[i % 2].post_job(docs) for i in range(2)]
        time.sleep(random.uniform(0.2, 1.5))
        if r % 2 == 0:
            subprocess.run(["pg_ctlcluster", "15", "main", "stop", "-m", "fast"], check=True)
            time.sleep(1)
            answers = [nodes[0].request("POST", "/v1/jobs", b"--x--\r\n",
                                        {"Content-Type": "multipart/form-data; boundary=x"}, timeout=30)
                       for _ in range(3)]
            ready = nodes[1].request("GET", "/readyz", timeout=30)
            time.sleep(4)
            subprocess.run(["pg_ctlcluster", "15", "main", "start"], check=True)
            print(f"round {r} while stopped: POST /v1/jobs {[(a[0], json.loads(a[1])['error']['code']) for a in answers]}, "
                  f"readyz {ready[0]} {ready[1][:120]!r}")
        else:
            subprocess.run(["pg_ctlcluster", "15", "main", "restart"], check=True)
        back = time.time()
        for j in jobs:
            problems, codes = check(nodes[r % 2], j, args.docs)
            bad += bool(problems)
            print(f"round {r} ({'stop 5 s' if r % 2 == 0 else 'restart'}) job {j[:8]}: {problems or 'ok'} errors {codes}")
        print(f"round {r}: PostgreSQL back to both jobs over {time.time() - back:.1f} s")
    for n in nodes:
        n.stop()
    psql(PG, f"DROP DATABASE {name} WITH (FORCE)")
    return bad


def scenario_submit(args):
    import collections
    bad = 0
    for r in range(args.rounds):
        src = tempfile.mkdtemp(prefix="docmill-chaos-src-")
        for name, data in documents(args.docs, f"s{r}"):
            open(os.path.join(src, name), "wb").write(data)
        port = random.randint(20000, 40000)
        node = Node(["--workers", "2", "--bind", f"127.0.0.1:{port}"])
        out = os.path.join(node.dir, "out.ndjson")

        def submit(resume):
            return subprocess.Popen([support.BINARY, "submit", "--server", node.base, "--concurrency", "4",
                                     "--out", out, *(["--resume"] if resume else []), src],
                                    stderr=subprocess.PIPE, text=True)
        down = (0.2, 1, 3)[r % 3]
        client = submit(False)
        time.sleep(random.uniform(0.5, 2.0))
        node.kill()
        time.sleep(down)
        node.start()
        first = client.communicate()[1].strip().splitlines()[-1:]
        written = sum(1 for _ in open(out))
        resumed = []
        if client.returncode != 0 and written < args.docs:
            again = submit(True)
            resumed = again.communicate()[1].strip().splitlines()[-1:]
        names = collections.Counter(json.loads(l)["filename"] for l in open(out))
        missing, twice = args.docs - len(names), sum(1 for c in names.values() if c > 1)
        bad += bool(missing or twice)
        print(f"round {r} (down {down} s): first run {written} lines, exit {client.returncode}, {first}; "
              f"resume: {resumed or 'not needed'}; missing {missing}, twice {twice}")
        node.stop()
    return bad


def scenario_upload(args):
    """A node on the PostgreSQL store SIGKILLed with a /v1/jobs upload to it
    10 %, 50 %, 90 %, 99 % or 100 % sent: nothing may be left half-stored."""
    import socket
    name = f"docmill_chaos_{uuid.uuid4().hex[:10]}"
    psql(PG, f"CREATE DATABASE {name}")
    base, _, query = PG.partition("?")
    authority = base.split("://", 1)[1].split("/", 1)[0]
    url = f"postgres://{authority}/{name}" + (f"?{query}" if query else "")
    node = Node(["--workers", "2", "--store", url, "--lease", "2"])
    bad = 0
    boundary = uuid.uuid4().hex
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{n}"\r\n\r\n'.encode() + d + b"\r\n"
        for n, d in documents(args.docs, "u")) + f"--{boundary}--\r\n".encode()
    for frac in (0.1, 0.5, 0.9, 0.99, 1.0):
        host, port = node.base.split("//")[1].rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
        s.sendall(f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode())
        s.sendall(body[:int(len(body) * frac)])
        time.sleep(0.3 if frac < 1 else 0.01)
        node.kill()
        s.close()
        node.start()
        jobs = [j for j in psql(url, "SELECT id FROM jobs").split() if j]
        rows = psql(url, "SELECT count(*) FROM documents WHERE job_id NOT IN (SELECT id FROM jobs)")
        # A job stored before the kill (its 202 may not have left) must be whole.
        problems = [p for j in jobs for p in check(node, j, args.docs)[0]]
        bad += bool(problems or rows != "0")
        print(f"killed with {frac:.0%} of the upload sent: {len(jobs)} jobs stored, {rows} stray document rows, "
              f"{problems or 'ok'}")
        psql(url, "DELETE FROM jobs")
    node.stop()
    psql(PG, f"DROP DATABASE {name} WITH (FORCE)")
    return bad


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["nodes", "local", "workers", "pg", "submit", "upload"])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--docs", type=int, default=400)
    a = p.parse_args()
    bad = globals()[f"scenario_{a.scenario}"](a)
    print(f"{bad} wrong")
    sys.exit(1 if bad else 0)

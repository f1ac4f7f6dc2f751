#!/usr/bin/env python3
"""A storm on a cluster: nodes on one PostgreSQL store take jobs of
--docs documents while, every 0.5-3 s, one of these hits a random node:
SIGKILL of the whole node, of its server alone, of its supervisor, of a
worker; SIGSTOP of a worker for 4 s (hung, not dead); SIGTERM of the
server; its PostgreSQL connections terminated (pg_terminate_backend).
Dead nodes are started again on the same port. Meanwhile `docmill
submit` sends a folder of files to the nodes, run again with --resume
whenever it ends early. At the end: every job answered 202 is `done`
with every document's index exactly once and the counts right, no
generated text failed (nothing in them can), no lease left held, and the
submit output holds every file exactly once.

usage: bench/chaos_storm.py [--nodes 3] [--jobs 3] [--docs 1200]
                            [--seconds 60] [--files 1000] [-- SERVE FLAGS]
SERVE FLAGS are added to every node's `docmill serve` (for instance
`--max-jobs-per-worker 1`, `--job-timeout 0.5`, `--worker-memory 256MiB`).
Database: `chaos4_storm` on DOCMILL_PG's server, dropped and made afresh.
"""
import argparse, collections, json, os, random, signal, subprocess, sys, tempfile, threading, time

import support
from chaos_jobs import PG, Node, check, documents, psql

DB = "chaos4_storm"


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class Cluster:
    def __init__(self, n, flags):
        self.flags = flags
        self.ports = random.sample(range(20000, 40000), n)
        self.nodes = [Node(["--bind", f"127.0.0.1:{p}", *flags]) for p in self.ports]
        self.down = [False] * n
        self.lock = threading.Lock()

    def alive(self):
        return [i for i, d in enumerate(self.down) if not d]

    def any_base(self):
        with self.lock:
            return self.nodes[random.choice(self.alive())].base

    def restart_dead(self):
        for i, node in enumerate(self.nodes):
            if node.proc.poll() is not None:
                with self.lock:
                    self.down[i] = True
                try:
                    node.start()
                finally:
                    with self.lock:
                        self.down[i] = False


def hit(cluster, counts):
    """One blow to a random node; returns what it was."""
    i = random.choice(cluster.alive())
    node = cluster.nodes[i]
    if node.proc.poll() is not None:
        return None
    server = node.proc.pid
    sup = children(server)
    workers = [w for s in sup for w in children(s)]
    what = random.choice(["node", "server", "supervisor", "worker", "worker", "stop worker", "sigterm", "pg"])
    if what in ("node", "server", "sigterm") and len(cluster.alive()) < 2:
        what = "worker"
    if what == "node":
        os.killpg(server, signal.SIGKILL)
    elif what == "server":
        os.kill(server, signal.SIGKILL)
    elif what == "supervisor" and sup:
        os.kill(sup[0], signal.SIGKILL)
    elif what == "worker" and workers:
        os.kill(random.choice(workers), signal.SIGKILL)
    elif what == "stop worker" and workers:
        w = random.choice(workers)
        os.kill(w, signal.SIGSTOP)
        threading.Timer(4, lambda: _cont(w)).start()
    elif what == "sigterm":
        os.kill(server, signal.SIGTERM)
    elif what == "pg":
        url = PG.replace("/postgres?", f"/{DB}?")
        psql(url, f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                  f"WHERE datname = '{DB}' AND pid <> pg_backend_pid()")
    else:
        return None
    counts[what] += 1
    if what in ("node", "server", "supervisor", "sigterm"):
        with cluster.lock:
            cluster.down[i] = True
    return what


def _cont(pid):
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--jobs", type=int, default=3, help="jobs posted per node")
    p.add_argument("--docs", type=int, default=1200)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("flags", nargs="*")
    a = p.parse_args()
    admin = PG
    psql(admin, f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    psql(admin, f"CREATE DATABASE {DB}")
    url = PG.replace("/postgres?", f"/{DB}?")
    flags = ["--workers", "2", "--store", url, "--lease", "2", *a.flags]
    cluster = Cluster(a.nodes, flags)
    stop = threading.Event()
    counts = collections.Counter()
    accepted, cut = [], [0]
    ndocs = {}

    def uploader(k):
        # Jobs keep arriving through the storm, up to --jobs per uploader.
        docs = documents(a.docs, f"storm{k}")
        posted = 0
        while not stop.is_set() and posted < a.jobs:
            node = cluster.nodes[(k + posted) % a.nodes]
            try:
                accepted.append(node.post_job(docs))
                posted += 1
                stop.wait(random.uniform(0, a.seconds / a.jobs))
            except (OSError, AssertionError, ValueError):
                cut[0] += 1
                time.sleep(0.3)

    def chaos():
        while not stop.wait(random.uniform(0.5, 3)):
            try:
                hit(cluster, counts)
            except (OSError, subprocess.CalledProcessError, IndexError) as err:
                counts[f"miss {type(err).__name__}"] += 1

    def restarter():
        while not stop.wait(0.2):
            time.sleep(random.uniform(0.2, 1.5))
            try:
                cluster.restart_dead()
            except (AssertionError, IndexError, OSError):
                counts["failed restart"] += 1

    src = tempfile.mkdtemp(prefix="docmill-storm-src-")
    for name, data in documents(a.files, "submit"):
        open(os.path.join(src, name), "wb").write(data)
    outs, runs = [], []

    def submitter():
        # Rounds of `docmill submit` through the storm, each to a fresh
        # output, run again with --resume until one run ends cleanly.
        while not stop.is_set():
            out = f"{src}.{len(outs)}.ndjson"
            outs.append(out)
            resume = False
            while True:
                r = subprocess.run([support.BINARY, "submit", "--server", cluster.any_base(), "--concurrency", "4",
                                    "--out", out, *(["--resume"] if resume else []), src],
                                   capture_output=True, text=True)
                last = (r.stderr.strip().splitlines() or [""])[-1]
                runs.append(r.returncode)
                # exit 1 with every file answered: some files failed (parse_failed)
                if r.returncode == 0 or (r.returncode == 1 and "already done" in last and "lost" not in last
                                         and "interrupted" not in last and resume):
                    break
                resume = True
                time.sleep(0.5)

    started = time.time()
    threads = [threading.Thread(target=t) for t in (chaos, restarter)]
    uploads = [threading.Thread(target=uploader, args=(k,)) for k in range(a.nodes)]
    sub = threading.Thread(target=submitter)
    for t in threads + uploads + [sub]:
        t.start()
    time.sleep(a.seconds)
    stop.set()
    for t in threads + uploads:
        t.join()
    cluster.restart_dead()
    calm = time.time()
    print(f"storm {calm - started:.0f} s: blows {dict(counts)}; {len(accepted)} jobs accepted, {cut[0]} uploads cut")
    bad = 0
    for job in accepted:
        problems, codes = check(cluster.nodes[0], job, a.docs)
        lines = [json.loads(l) for l in cluster.nodes[0].request("GET", f"/v1/jobs/{job}/results")[1].splitlines()]
        generated_failed = [l for l in lines if "error" in l and l.get("filename", "").endswith(".txt")
                            and "-" not in l["filename"]]
        if generated_failed:
            problems.append(f"{len(generated_failed)} generated texts failed: "
                            f"{collections.Counter(l['error']['code'] for l in generated_failed)}")
        bad += bool(problems)
        print(f"job {job[:8]}: {problems or 'ok'} errors {codes}")
    print(f"every job over {time.time() - calm:.1f} s after the storm ended")
    sub.join()
    for out in outs:
        names = collections.Counter(json.loads(l)["filename"] for l in open(out))
        missing, twice = a.files - len(names), sum(1 for c in names.values() if c > 1)
        codes = collections.Counter(json.loads(l)["error"]["code"] for l in open(out) if "error" in json.loads(l))
        bad += bool(missing or twice)
        print(f"submit round {os.path.basename(out)}: missing {missing}, twice {twice}; errors {dict(codes)}")
    print(f"submit: {len(runs)} runs in {len(outs)} rounds, exit statuses {collections.Counter(runs)}")
    held = psql(url, "SELECT count(*) FROM documents WHERE lease_node IS NOT NULL AND line IS NULL")
    bad += held != "0"
    print(f"leases left held: {held}")
    for node in cluster.nodes:
        node.stop()
    psql(admin, f"DROP DATABASE {DB} WITH (FORCE)")
    print(f"{bad} wrong")
    return bad


if __name__ == "__main__":
    sys.exit(1 if main() else 0)

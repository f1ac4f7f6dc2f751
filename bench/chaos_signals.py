#!/usr/bin/env python3
"""Signals and cut connections one at a time, each checked to the document.

usage: bench/chaos_signals.py SCENARIO [SERVE FLAGS...]
  upload   SIGINT, then SIGTERM, with a 300-document /v1/batch and then a
           /v1/jobs upload half sent (--shutdown-grace 5): the upload is
           finished and answered (batch: every line and the summary; job:
           202), the server exits 0
  hung     a random busy worker frozen (SIGSTOP) for 0.6-2 s, several times
           during a 60-document job of 0.15-0.25 s documents (run it with
           `--job-timeout 0.5`, and `--max-jobs-per-worker 1`): every
           document has its line; the log's deadlines are printed (a
           `timeout` line is wrong unless its worker was starved, not
           stopped)
  pgflood  2 nodes on one PostgreSQL store (database chaos4_pgflood) take
           1,000-document jobs for 40 s while every connection to that
           database is terminated (pg_terminate_backend) every 50-400 ms:
           each upload is answered 202 (then done, every document once) or
           503, and no document row outlives a refused job
"""
import json, os, random, signal, socket, sys, threading, time, uuid, collections

from chaos_jobs import PG, PROSE, Node, check, documents, psql


def body_of(docs, boundary):
    return b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{n}"\r\n\r\n'.encode()
                    + d + b"\r\n" for n, d in docs) + f"--{boundary}--\r\n".encode()


def scenario_upload(flags):
    bad = 0
    for path in ("/v1/batch", "/v1/jobs"):
        for sig in (signal.SIGINT, signal.SIGTERM):
            node = Node(["--workers", "2", "--shutdown-grace", "5", *flags])
            boundary = uuid.uuid4().hex
            body = body_of(documents(300, "sig"), boundary)
            host, port = node.base.split("//")[1].rsplit(":", 1)
            s = socket.create_connection((host, int(port)))
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n".encode())
            s.sendall(body[:len(body) // 2])
            time.sleep(0.3)
            node.proc.send_signal(sig)
            time.sleep(0.5)
            s.sendall(body[len(body) // 2:])
            s.settimeout(30)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
            status = answer.split(b"\r\n", 1)[0].decode()
            lines = answer.count(b'"index"')
            code = node.proc.wait(30)
            ok = code == 0 and (("202" in status) if path == "/v1/jobs" else
                                ("200" in status and lines == 300 and b'"summary"' in answer))
            bad += not ok
            print(f"{sig.name} with a {path} upload half sent: {status}, {lines} document lines, "
                  f"exit {code}: {'ok' if ok else 'WRONG'}")
    return bad


def scenario_hung(flags):
    node = Node(["--workers", "2", *flags])
    docs = [(f"{i}.txt", (PROSE.format("hung", i) * 25000).encode()) for i in range(60)]
    job = node.post_job(docs)
    stops, end = 0, time.time() + 8
    while time.time() < end:
        time.sleep(random.uniform(0.3, 1.0))
        busy = [w["pid"] for w in node.get("/v1/pool")["workers"] if w["state"] == "busy"]
        if busy:
            pid = random.choice(busy)
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue  # recycled in between
            time.sleep(random.uniform(0.6, 2.0))
            stops += 1
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass  # killed while frozen: past --job-timeout
    problems, codes = check(node, job, len(docs))
    print(f"{stops} workers frozen 0.6-2 s with {flags}: {problems or 'ok'}, errors {codes}")
    log = open(os.path.join(node.dir, "stderr")).read().splitlines()
    for line in log:
        if "deadline" in line or "longer than" in line:
            print("  log:", line[:220])
    node.stop()
    return bool(problems)


def scenario_pgflood(flags):
    db = "chaos4_pgflood"
    psql(PG, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    psql(PG, f"CREATE DATABASE {db}")
    url = PG.replace("/postgres?", f"/{db}?")
    nodes = [Node(["--workers", "2", "--store", url, "--lease", "2", *flags]) for _ in range(2)]
    stop, kills = threading.Event(), [0]

    def killer():
        while not stop.wait(random.uniform(0.05, 0.4)):
            try:
                psql(url, f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                          f"WHERE datname = '{db}' AND pid <> pg_backend_pid()")
                kills[0] += 1
            except Exception:
                pass
    t = threading.Thread(target=killer)
    t.start()
    accepted, refused = [], collections.Counter()
    docs, end, k = documents(1000, "flood"), time.time() + 40, 0
    while time.time() < end:
        k += 1
        try:
            accepted.append(nodes[k % 2].post_job(docs))
        except AssertionError as err:
            refused[err.args[0][0]] += 1
        except OSError as err:
            refused[type(err).__name__] += 1
    stop.set()
    t.join()
    bad = 0
    for job in accepted:
        problems, _ = check(nodes[0], job, 1000)
        bad += bool(problems)
        if problems:
            print(f"job {job[:8]}: {problems}")
    stored = psql(url, "SELECT count(*) FROM jobs")
    stray = psql(url, "SELECT count(*) FROM documents WHERE job_id NOT IN (SELECT id FROM jobs)")
    bad += stored != str(len(accepted)) or stray != "0"
    print(f"{kills[0]} rounds of terminations; {len(accepted)} jobs accepted, refused {dict(refused)}; "
          f"{stored} jobs stored, {stray} stray document rows; {bad} wrong")
    for node in nodes:
        node.stop()
    psql(PG, f"DROP DATABASE {db} WITH (FORCE)")
    return bad


if __name__ == "__main__":
    bad = globals()[f"scenario_{sys.argv[1]}"](sys.argv[2:])
    print(f"{bad} wrong")
    sys.exit(1 if bad else 0)

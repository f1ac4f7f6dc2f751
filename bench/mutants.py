"""Broken copies of real documents through a running pool: every corpus file
cut short, with bytes flipped, with a range zeroed or repeated, and, for
ZIP-based formats (DOCX, XLSX, PPTX, ODF, EPUB), with one XML member
mangled and the archive written again, and for PDFs (with qpdf installed),
with numbers, references or operands of the uncompressed objects mangled
(so the damage reaches the parser, not only the ZIP or deflate reader). Each mutant goes through `POST /v1/batch`; the
sweep counts answers by outcome (report, or error code), the slowest
documents, and the pool's restarts by cause (`GET /v1/pool`): a
`worker_crashed` or a `timeout` on a small broken document is a defect to
look at, a typed `parse_failed` is the expected answer.

Run: `python3 bench/mutants.py [--per-file N] [--seed S] [DIR...]` (release
build; DIR defaults to ../shared/corpus). Mutants of each failing kind are
kept under /tmp/docmill-mutants/ to reproduce with `docmill analyze`.
"""

import argparse
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import DEFAULT_DIRS, corpus_files, start_server  # noqa: E402

KEEP = "/tmp/docmill-mutants"
BATCH = 64


def mutate_bytes(data, rng):
    """One byte-level mutation of `data`, and its name."""
    if not data:
        return b"\0", "empty+nul"
    kind = rng.choice(["truncate", "flip", "zero", "repeat", "splice"])
    n = len(data)
    if kind == "truncate":
        return data[: rng.randrange(0, n)], kind
    if kind == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 16)):
            out[rng.randrange(n)] ^= 1 << rng.randrange(8)
        return bytes(out), kind
    if kind == "zero":
        start = rng.randrange(n)
        length = min(n - start, rng.randint(1, 4096))
        return data[:start] + b"\0" * length + data[start + length :], kind
    if kind == "repeat":
        start = rng.randrange(n)
        chunk = data[start : start + rng.randint(1, 4096)]
        return data[:start] + chunk * rng.randint(2, 50) + data[start:], kind
    other = rng.randrange(n)
    return data[: rng.randrange(n)] + data[other:], kind


def mutate_zip(data, rng):
    """An XML member of a ZIP-based document mangled (truncated, a tag
    opened many times, a byte flipped, an entity loop), the archive
    rewritten; None when `data` is not such an archive."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = [i.filename for i in archive.infolist() if i.filename.endswith((".xml", ".rels", ".opf", ".xhtml"))]
    except Exception:
        return None
    if not names:
        return None
    target = rng.choice(names)
    member = archive.read(target)
    kind = rng.choice(["xml-truncate", "xml-flip", "xml-nest", "xml-entities", "xml-drop"])
    if kind == "xml-truncate":
        member = member[: rng.randrange(max(1, len(member)))]
    elif kind == "xml-flip":
        out = bytearray(member)
        for _ in range(rng.randint(1, 8)):
            if out:
                out[rng.randrange(len(out))] = rng.choice(b"<>&\"'\0\xff")
        member = bytes(out)
    elif kind == "xml-nest":
        at = member.rfind(b">", 0, max(1, len(member) // 2)) + 1
        member = member[:at] + b"<w:p><w:r>" * 20000 + member[at:]
    elif kind == "xml-entities":
        member = (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
            + member.split(b"?>", 1)[-1].replace(b">", b">&c;", 50)
        )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as rewritten:
        for info in archive.infolist():
            if info.filename == target:
                if kind != "xml-drop":
                    rewritten.writestr(info.filename, member)
            else:
                rewritten.writestr(info, archive.read(info.filename))
    return out.getvalue(), kind + ":" + target


def mutate_pdf(data, rng):
    """A PDF rewritten by qpdf in its QDF form (objects and content streams
    uncompressed and readable), then one of its numbers made huge or
    negative, a reference pointed at its own object (a cycle), or an
    operator's operands dropped; None when qpdf is absent or cannot read
    `data`."""
    if not data.startswith(b"%PDF") or shutil.which("qpdf") is None:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        source, qdf = os.path.join(scratch, "in.pdf"), os.path.join(scratch, "qdf.pdf")
        with open(source, "wb") as f:
            f.write(data)
        done = subprocess.run(["qpdf", "--qdf", "--object-streams=disable", source, qdf], capture_output=True)
        if done.returncode not in (0, 3) or not os.path.exists(qdf):
            return None
        text = open(qdf, "rb").read()
    kind = rng.choice(["pdf-huge", "pdf-negative", "pdf-cycle", "pdf-operands"])
    if kind in ("pdf-huge", "pdf-negative"):
        numbers = list(re.finditer(rb"(?<![\w.])\d+(?![\w.])", text))
        for match in rng.sample(numbers, min(len(numbers), rng.randint(1, 20))):
            value = b"2147483647999" if kind == "pdf-huge" else b"-" + match.group()
            text = text[: match.start()] + value.ljust(len(match.group()))[: max(len(match.group()), len(value))] + text[match.end() :]
    elif kind == "pdf-cycle":
        for match in rng.sample(list(re.finditer(rb"(\d+) 0 obj", text)), 1):
            own = match.group(1)
            text = re.sub(rb"\d+ 0 R", own + b" 0 R", text, count=rng.randint(1, 40))
    else:
        text = re.sub(rb"\n[-\d. ]+ (Tf|Td|TD|Tm|cm|re|Tz|TL|Ts)\n", lambda m: b"\n" + m.group(1) + b"\n", text)
    return text, kind


def batch(url, documents):
    """The batch's lines for `documents` ([(filename, bytes)])."""
    boundary = "mutants-boundary-7f3a"
    body = io.BytesIO()
    for name, data in documents:
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode())
        body.write(data)
        body.write(b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(
        url + "/v1/batch",
        data=body.getvalue(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=600) as answer:
        return [json.loads(line) for line in answer.read().splitlines() if line.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-file", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", default="2")
    parser.add_argument("dirs", nargs="*", default=DEFAULT_DIRS)
    args = parser.parse_args()
    files = corpus_files(args.dirs)
    if files is None:
        return
    rng = random.Random(args.seed)
    mutants = []
    for path in files:
        data = open(path, "rb").read()
        base = os.path.basename(path)
        for k in range(args.per_file):
            structured = (mutate_zip(data, rng) or mutate_pdf(data, rng)) if k % 2 == 0 else None
            mutated, kind = structured if structured else mutate_bytes(data, rng)
            mutants.append((f"{k:02d}-{base}", mutated, kind))
    data_dir = tempfile.mkdtemp(prefix="docmill-mutants-")
    server, url = start_server(data_dir, flags=("--workers", args.workers))
    outcomes, slowest, failing = {}, [], {}
    started = time.monotonic()
    try:
        for at in range(0, len(mutants), BATCH):
            group = mutants[at : at + BATCH]
            for line in batch(url, [(name, data) for name, data, _ in group]):
                if "index" not in line:
                    continue
                name, data, kind = group[line["index"]]
                if "report" in line:
                    outcome = "report"
                    timing = line["report"].get("timing", {})
                    slowest.append((timing.get("analysis_ms", 0), name, kind, len(data)))
                else:
                    outcome = line["error"]["code"]
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                if outcome not in ("report", "parse_failed", "unsupported_media_type"):
                    failing.setdefault(outcome, []).append((name, kind, line["error"]["message"][:160]))
                    os.makedirs(KEEP, exist_ok=True)
                    with open(os.path.join(KEEP, f"{outcome}-{name}"), "wb") as kept:
                        kept.write(data)
        pool = json.load(urllib.request.urlopen(url + "/v1/pool"))
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
    elapsed = time.monotonic() - started
    print(f"{len(mutants)} mutants of {len(files)} files (seed {args.seed}) in {elapsed:.1f} s")
    for outcome, count in sorted(outcomes.items(), key=lambda kv: -kv[1]):
        print(f"  {outcome}: {count}")
    print(f"pool restarts: {pool.get('restarts')}")
    slowest.sort(reverse=True)
    print("slowest reports (analysis_ms, mutant, mutation, bytes):")
    for row in slowest[:8]:
        print("  ", row)
    for outcome, rows in failing.items():
        print(f"{outcome}: {len(rows)} (kept in {KEEP})")
        for row in rows[:12]:
            print("  ", row)


if __name__ == "__main__":
    main()

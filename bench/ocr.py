"""OCR throughput and accuracy: the pages rendered by tests/render_text.py
(typed text in four fonts, upright and turned) read by a 1-worker docmill
server, one page at a time, against the same pages through the `tesseract`
command line (one process per page, as a script calling it would). Reports
pages/s, the worker's peak RSS, and word F1 against the text drawn, each a
median of several rounds.

Run from the repository root after `cargo build --release` (needs python3
with Pillow, tesseract-ocr and tesseract-ocr-eng):
    python3 bench/ocr.py [--rounds 3]
DOCMILL_BIN names another binary.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import support

UPRIGHT = ["upright-sans.png", "upright-serif.png", "upright-mono.png", "upright-liberation.png", "upright-serif.jpg"]
TURNED = ["rotated-90.png", "rotated-180.png", "rotated-270.png", "rotated-90.jpg"]


def words(text):
    out = []
    for w in text.split():
        w = "".join(c for c in w if c.isalnum()).lower()
        if w:
            out.append(w)
    return out


def f1(read, truth):
    read, truth = words(read), words(truth)
    counts = {}
    for w in truth:
        counts[w] = counts.get(w, 0) + 1
    hits = 0
    for w in read:
        if counts.get(w, 0) > 0:
            counts[w] -= 1
            hits += 1
    if not hits:
        return 0.0
    precision, recall = hits / len(read), hits / len(truth)
    return 2 * precision * recall / (precision + recall)


def docmill_round(addr, pages):
    texts, peak = {}, 0
    started = time.monotonic()
    for name, data in pages:
        request = urllib.request.Request(
            f"http://{addr}/v1/analyze?filename={name}&text=true", data=data, method="PUT"
        )
        with urllib.request.urlopen(request) as response:
            report = json.load(response)
        texts[name] = report.get("text", "")
        peak = max(peak, report["timing"]["peak_rss_bytes"])
    return time.monotonic() - started, texts, peak


def tesseract_round(directory, names):
    texts = {}
    started = time.monotonic()
    for name in names:
        out = subprocess.run(
            ["tesseract", os.path.join(directory, name), "-", "-l", "eng"],
            capture_output=True,
            env=dict(os.environ, OMP_THREAD_LIMIT="1"),
            check=True,
        )
        texts[name] = out.stdout.decode()
    return time.monotonic() - started, texts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    fixtures = tempfile.mkdtemp(prefix="docmill-ocr-bench-")
    subprocess.run([sys.executable, os.path.join(support.ROOT, "tests", "render_text.py"), fixtures], check=True)
    manifest = json.load(open(os.path.join(fixtures, "manifest.json")))
    names = UPRIGHT + TURNED
    pages = [(name, open(os.path.join(fixtures, name), "rb").read()) for name in names]

    server, base = support.start_server(os.path.join(fixtures, "data"), ("--workers", "1"), quiet=False)
    try:
        addr = base.removeprefix("http://")
        docmill_times, tesseract_times, peaks = [], [], []
        for _ in range(args.rounds):
            elapsed, docmill_texts, peak = docmill_round(addr, pages)
            docmill_times.append(elapsed)
            peaks.append(peak)
            elapsed, tesseract_texts = tesseract_round(fixtures, names)
            tesseract_times.append(elapsed)
        pool = json.load(urllib.request.urlopen(f"http://{addr}/v1/pool"))
    finally:
        server.terminate()
        server.wait()

    def mean_f1(texts, subset):
        return statistics.mean(f1(texts[n], manifest[n]) for n in subset)

    n = len(names)
    docmill_s, tesseract_s = statistics.median(docmill_times), statistics.median(tesseract_times)
    print(f"pages: {n} ({len(UPRIGHT)} upright, {len(TURNED)} turned 90/180/270), 2000 px wide, {args.rounds} rounds")
    print(f"engine: {pool['ocr']['engine']}")
    print("| | docmill, 1 worker | tesseract CLI, a process a page |")
    print("| --- | --- | --- |")
    print(f"| pages/s (median) | {n / docmill_s:.2f} | {n / tesseract_s:.2f} |")
    print(f"| word F1, upright | {mean_f1(docmill_texts, UPRIGHT):.3f} | {mean_f1(tesseract_texts, UPRIGHT):.3f} |")
    print(f"| word F1, turned | {mean_f1(docmill_texts, TURNED):.3f} | {mean_f1(tesseract_texts, TURNED):.3f} |")
    print(f"| worker peak RSS per page (max, MiB) | {max(peaks) / 2**20:.0f} | |")
    print(f"| worker RSS after the run (MiB) | {pool['workers'][0]['rss_bytes'] / 2**20:.0f} | |")
    print(f"ratio pages/s docmill / tesseract CLI: {tesseract_s / docmill_s:.2f}")
    for name in names:
        print(f"  {name}: docmill {f1(docmill_texts[name], manifest[name]):.3f}, cli {f1(tesseract_texts[name], manifest[name]):.3f}")


if __name__ == "__main__":
    main()

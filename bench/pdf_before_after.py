"""PDF text fidelity and speed before and after a change, in one run: the
`pdf_fidelity` example built from each version is run in turn (after,
before, after, ... `--rounds` times each) over the same PDFs, and the
figures are printed side by side: median and mean word F1 against
pdftotext, the worst five, docmill's MB/s (whole analysis) and pdftotext's
MB/s on the same files, as medians over the rounds.

    cargo build --release -p docmill-engine --example pdf_fidelity   # in each version's tree
    python3 bench/pdf_before_after.py BEFORE_BINARY AFTER_BINARY \
        [--corpus ../shared/corpus | --pdf-dir /tmp/pdfset] [--rounds 3]
"""

import argparse
import os
import re
import statistics
import subprocess


def run(binary, env):
    out = subprocess.run([binary], env=env, capture_output=True, text=True, check=True).stdout
    summary = re.search(r"(\d+) PDFs: median F1 ([\d.]+), mean ([\d.]+)", out)
    speed = re.search(r"docmill [\d.]+ s \(([\d.]+) MB/s.*pdftotext [\d.]+ s \(([\d.]+) MB/s", out)
    worst = out.split("worst:\n", 1)[1].strip().splitlines() if "worst:\n" in out else []
    return {
        "files": int(summary.group(1)),
        "median": float(summary.group(2)),
        "mean": float(summary.group(3)),
        "ours": float(speed.group(1)),
        "poppler": float(speed.group(2)),
        "worst": [" ".join(line.split()) for line in worst],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--corpus")
    parser.add_argument("--pdf-dir")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ)
    if args.pdf_dir:
        env["DOCMILL_PDF_DIR"] = args.pdf_dir
    elif args.corpus:
        env["DOCMILL_CORPUS"] = args.corpus
    results = {"before": [], "after": []}
    for _ in range(args.rounds):
        for name in ("after", "before"):
            results[name].append(run(getattr(args, name), env))
    print("| version | PDFs | median F1 | mean F1 | docmill MB/s | pdftotext MB/s (same run) | worst five |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in ("before", "after"):
        rounds = results[name]
        first = rounds[0]
        ours = statistics.median(r["ours"] for r in rounds)
        poppler = statistics.median(r["poppler"] for r in rounds)
        worst = "; ".join(first["worst"])
        print(f"| {name} | {first['files']} | {first['median']:.3f} | {first['mean']:.3f} | {ours:.1f} | {poppler:.1f} | {worst} |")


if __name__ == "__main__":
    main()

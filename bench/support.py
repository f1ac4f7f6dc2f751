"""What the bench scripts share: the binary they drive (`DOCMILL_BIN`, else
the release build), the documents of the corpus, and a server started on a
free port."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("DOCMILL_BIN", os.path.join(ROOT, "target", "release", "docmill"))
DEFAULT_DIRS = [os.path.join(ROOT, "..", "shared", "corpus")]
NOT_DOCUMENTS = ("manifest.json", "LICENSES.md")


def corpus_files(dirs):
    """Sorted paths of every document under `dirs` (the corpus's manifest
    and licence list aside), or None (after saying so loudly) when one of
    the folders is absent."""
    found = []
    for directory in dirs:
        if not os.path.isdir(directory):
            print(f"DID NOT RUN: {directory} is absent")
            return None
        for base, _, names in os.walk(directory):
            found += [os.path.join(base, n) for n in names if n not in NOT_DOCUMENTS]
    return sorted(found)


def start_server(data_dir, flags=("--workers", "2"), quiet=True):
    """`docmill serve` on a free loopback port with `flags`; returns the
    process and its base URL (`http://127.0.0.1:PORT`) once it listens.
    `quiet` discards its log."""
    server = subprocess.Popen(
        [BINARY, "serve", "--bind", "127.0.0.1:0", *flags, "--data-dir", data_dir],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else None,
        text=True,
    )
    return server, server.stdout.readline().split()[-1]

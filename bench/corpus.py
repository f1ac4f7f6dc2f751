"""The documents a bench script reads: every file under the given folders
(by default `../shared/corpus`), the corpus's own manifest and licence list
aside, sorted so that runs compare. Shared by the scripts that sweep the
corpus."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DIRS = [os.path.join(ROOT, "..", "shared", "corpus")]
NOT_DOCUMENTS = ("manifest.json", "LICENSES.md")


def files(dirs):
    """Sorted paths of every document under `dirs`, or None (after saying so
    loudly) when one of the folders is absent."""
    found = []
    for directory in dirs:
        if not os.path.isdir(directory):
            print(f"DID NOT RUN: {directory} is absent")
            return None
        for base, _, names in os.walk(directory):
            found += [os.path.join(base, n) for n in names if n not in NOT_DOCUMENTS]
    return sorted(found)

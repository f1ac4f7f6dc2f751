"""Two clients try to kill docmill's workers with small hostile PDFs for 20 s:
Form XObjects that draw themselves or each other, forms nested 5,000 deep or
doubling 40 times, content streams nested a million levels, a page tree that
contains itself. Each upload changes a byte (a comment appended), so the
quarantine of documents that killed workers never recognises one. Prints the
answers by status and the pool's restart counts.

Run from the repository root after `cargo build --release`:
    python3 bench/hostile_pdfs.py [--seconds 20] [--clients 2]
DOCMILL_BIN names another binary.
"""

import argparse
import collections
import json
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib

import support

FONT = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def pdf(objects):
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % (i + 1) + (obj if isinstance(obj, bytes) else obj.encode()) + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def stream(data, extra="", compress=False):
    data = data.encode() if isinstance(data, str) else data
    if compress:
        data = zlib.compress(data, 9)
        extra += " /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(data), extra.encode()) + data + b"\nendstream"


def form(content, resources=""):
    res = " /Resources " + resources if resources else ""
    return stream(content, " /Type /XObject /Subtype /Form /BBox [0 0 612 792]" + res)


def one_page(content, more, resources="<< /Font << /F1 5 0 R >> /XObject << /X 6 0 R >> >>"):
    return pdf(
        [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources %s >>" % resources,
            content,
            FONT,
        ]
        + more
    )


def chain(depth, draws):
    more = [form(" ".join(["/X Do"] * draws), "<< /XObject << /X %d 0 R >> >>" % (7 + i)) for i in range(depth - 1)]
    return one_page(stream("/X Do"), more + [form("BT /F1 12 Tf 72 720 Td (Leaf) Tj ET", "<< /Font << /F1 5 0 R >> >>")])


HELLO = "BT /F1 12 Tf 72 720 Td (Hello) Tj ET "
DOCUMENTS = {
    "form_draws_itself": one_page(stream(HELLO + "/X Do"), [form("/X Do", "<< /XObject << /X 6 0 R >> >>")]),
    "forms_draw_each_other": one_page(
        stream(HELLO + "/X Do"),
        [form("/Y Do", "<< /XObject << /Y 7 0 R >> >>"), form("/X Do", "<< /XObject << /X 6 0 R >> >>")],
    ),
    "form_chain_5000": chain(5000, 1),
    "form_doublings_40": chain(40, 2),
    "nested_arrays": one_page(stream(HELLO + "[" * 200000, compress=True), []),
    "nested_saves": one_page(stream(HELLO + "q " * 600000, compress=True), []),
    "page_tree_contains_itself": pdf(
        [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 1 /Parent 2 0 R >>",
            "<< /Type /Page /Parent 3 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
            stream(HELLO),
            FONT,
        ]
    ),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="docmill-hostile-")
    server, base = support.start_server(data_dir, ("--workers", "2"))
    statuses = collections.Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds
    counter = iter(range(10**9))

    def client():
        names = list(DOCUMENTS)
        while time.monotonic() < deadline:
            with lock:
                n = next(counter)
            name = names[n % len(names)]
            body = DOCUMENTS[name] + b"\n%% %d\n" % n
            req = urllib.request.Request(base + "/v1/analyze?filename=%s.pdf" % name, data=body, method="PUT")
            try:
                with urllib.request.urlopen(req, timeout=120) as response:
                    code = response.status
            except urllib.error.HTTPError as err:
                code = "%d %s" % (err.code, json.loads(err.read())["error"]["code"])
            with lock:
                statuses[(name, code)] += 1

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with urllib.request.urlopen(base + "/v1/pool") as response:
        pool = json.loads(response.read())
    server.terminate()
    server.wait(timeout=30)
    for (name, code), count in sorted(statuses.items(), key=str):
        print(f"{name:28} {code}: {count}")
    print("uploads:", sum(statuses.values()), "restarts:", pool["restarts"])


if __name__ == "__main__":
    main()

"""Hostile shapes for the newest options: documents nested 100,000 deep
(HTML lists, tables and blockquotes, Markdown quotes and emphasis, DOCX
tables, ODT lists), a million headings, `pages=` with 100,000 ranges,
`chunks=64` on a large text, and images whose declared size lies (a
65535x65535 PNG, a 10,000-frame GIF, a TIFF and a WebP claiming huge
pages). Each is sent once with `markdown=true&chunks=64&text=true` (unless
it says otherwise) while a prober asks `/healthz` every 50 ms; prints the
status, error code or warnings, report size and time of each, the prober's
worst latency, and the pool's restarts.

Run from the repository root after `cargo build --release`:
    python3 bench/hostile_shapes.py [CASE...]
DOCMILL_BIN names another binary.
"""

import io
import json
import struct
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
import zlib

import support

DEEP = 100_000
SHAPE = "markdown=true&chunks=64&text=true"


def zipped(entries):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def docx(body):
    return zipped({
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        "word/document.xml": '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        + body + "</w:body></w:document>",
    })


def odt(body):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text", zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", '<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
                         '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
                         '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>')
        archive.writestr("content.xml", '<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
                         'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
                         + body + "</office:text></office:body></office:document-content>")
    return out.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, rows):
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(rows, 9)) + png_chunk(b"IEND", b""))


def gif_frames(frames):
    out = bytearray(b"GIF89a" + struct.pack("<HH", 64, 64) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff")
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for _ in range(frames):
        out += b"\x21\xf9\x04\x00\x00\x00\x00\x00"
        out += b"\x2c" + struct.pack("<HHHH", 0, 0, 64, 64) + b"\x00"
        out += b"\x02\x02\x4c\x01\x00"  # a 2-bit LZW stream: clear, one pixel, end
    return bytes(out + b"\x3b")


def tiff_claiming(width, height):
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
               (273, 4, 8), (277, 3, 1), (278, 4, height), (279, 4, 16)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", t, k, 1, v) for t, k, v in entries) + b"\0\0\0\0"
    return b"II*\x00" + struct.pack("<I", 24) + b"\0" * 16 + ifd


def webp_claiming(width, height):
    vp8l = b"\x2f" + struct.pack("<I", (width - 1) | ((height - 1) << 14)) + b"\0" * 32
    chunk = b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def jpeg_claiming(width, height):
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof + b"\xff\xd9"


def pdf_pages(count):
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(count)) + b"] /Count %d >>" % count]
    for i in range(count):
        stream = b"BT /F1 12 Tf 72 720 Td (Page %d of the book.) Tj ET" % (i + 1)
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>" % (4 + 2 * i))
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % (i + 1) + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def big_text():
    sentence = b"The quick brown fox jumps over the lazy dog near the river bank. "
    paragraph = sentence * 12 + b"\n\n"
    return paragraph * ((96 << 20) // len(paragraph))


CASES = {
    "html_lists": lambda: ("deep.html", b"<html><body>" + b"<ul><li>a" * DEEP + b"</body></html>", SHAPE),
    "html_tables": lambda: ("deep.html", b"<html><body>" + b"<table><tr><td>a" * DEEP + b"</body></html>", SHAPE),
    "html_quotes": lambda: ("deep.html", b"<html><body>" + b"<blockquote>a" * DEEP + b"</body></html>", SHAPE),
    "md_quotes": lambda: ("deep.md", b">" * DEEP + b" a\n", SHAPE),
    "md_lists": lambda: ("deep.md", b"".join(b"  " * i + b"- a\n" for i in range(3000)), SHAPE),
    "md_emphasis": lambda: ("deep.md", b"*" * DEEP + b"a" + b"*" * DEEP + b"\n" + b"[" * DEEP + b"\n", SHAPE),
    "docx_tables": lambda: ("deep.docx", docx("<w:tbl><w:tr><w:tc>" * DEEP + "<w:p><w:r><w:t>a</w:t></w:r></w:p>" + "</w:tc></w:tr></w:tbl>" * DEEP), SHAPE),
    "odt_lists": lambda: ("deep.odt", odt("<text:list><text:list-item>" * DEEP + "<text:p>a</text:p>" + "</text:list-item></text:list>" * DEEP), SHAPE),
    "html_million_headings": lambda: ("headings.html", b"<html><body>" + b"<h2>Heading</h2>" * 1_000_000 + b"</body></html>", SHAPE),
    "md_million_headings": lambda: ("headings.md", b"# H\n" * 1_000_000, SHAPE),
    "pages_100000_ranges": lambda: ("book.pdf", pdf_pages(3), "pages=" + ",".join(["1-2"] * 100_000)),
    "pages_huge_range": lambda: ("book.pdf", pdf_pages(3), "pages=1-999999999&" + SHAPE),
    "pages_repeated": lambda: ("book.pdf", pdf_pages(3), "pages=1&pages=2&chunks=64&chunks=100000"),
    "chunks64_96mib_text": lambda: ("big.txt", big_text(), SHAPE),
    "png_65535_lie": lambda: ("bomb.png", png(65535, 65535, b"\0" * 65536), "text=true"),
    "png_bomb_40mpx": lambda: ("bomb.png", png(6400, 6250, (b"\0" + b"\xff" * 6400) * 6250), "text=true"),
    "gif_10000_frames": lambda: ("frames.gif", gif_frames(10_000), "text=true"),
    "tiff_lie": lambda: ("lie.tif", tiff_claiming(4_000_000_000, 4_000_000_000), "text=true"),
    "webp_lie": lambda: ("lie.webp", webp_claiming(16384, 16384), "text=true"),
    "jpeg_lie": lambda: ("lie.jpg", jpeg_claiming(65535, 65535), "text=true"),
    "png_truncated": lambda: ("cut.png", png(2000, 2000, b"\0" * 100)[:60], "text=true"),
}


def probe(base, stop, worst):
    while not stop.is_set():
        started = time.monotonic()
        try:
            urllib.request.urlopen(base + "/healthz", timeout=10).read()
            worst.append(time.monotonic() - started)
        except Exception:
            worst.append(float("inf"))
        time.sleep(0.05)


def send(base, name, body, query):
    request = urllib.request.Request(f"{base}/v1/analyze?filename={name}&{query}", data=body, method="PUT")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, answer = err.code, err.read()
    except OSError as err:
        return None, time.monotonic() - started, 0, f"no answer: {err}"
    elapsed = time.monotonic() - started
    parsed = json.loads(answer)
    if "error" in parsed:
        what = f"{parsed['error']['code']}: {parsed['error']['message'][:110]}"
    else:
        report = parsed
        what = f"chunks {len(report.get('chunks') or [])}, markdown {len(report.get('markdown') or '')} B, warnings {[w[:70] for w in report.get('warnings', [])][:3]}"
    return status, elapsed, len(answer), what


def main():
    names = sys.argv[1:] or list(CASES)
    with tempfile.TemporaryDirectory() as data_dir:
        server, base = support.start_server(data_dir, ("--workers", "2"), quiet=False)
        try:
            for name in names:
                filename, body, query = CASES[name]()
                stop, latencies = threading.Event(), []
                prober = threading.Thread(target=probe, args=(base, stop, latencies), daemon=True)
                prober.start()
                status, elapsed, size, what = send(base, filename, body, query)
                stop.set()
                prober.join()
                latencies.sort()
                worst = latencies[-1] * 1000 if latencies else 0
                print(f"{name}: {len(body)} B in, {status} in {elapsed:.2f} s, {size} B out, healthz max {worst:.0f} ms; {what}", flush=True)
            pool = json.load(urllib.request.urlopen(base + "/v1/pool"))
            print("pool:", json.dumps({k: v for k, v in pool.items() if k != "workers" and k != "ocr"})[:600])
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()

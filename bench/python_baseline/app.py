"""The design docmill replaces, as a baseline for measurements only:
FastAPI + uvicorn + a ProcessPoolExecutor, the analysis in worker processes,
with the libraries such a service uses: pypdf, python-docx, BeautifulSoup
and langdetect (each used when installed; without them the analysis falls
back to decoding the bytes as text).

Run: uvicorn --workers 1 --port PORT app:app (from this folder), or through
`cargo run --release -p docmill-bench -- suite`.
"""

import asyncio
import hashlib
import io
import os
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from fastapi import FastAPI, File, UploadFile
from fastapi.responses import JSONResponse

try:
    import pypdf
except ImportError:
    pypdf = None
try:
    import docx
except ImportError:
    docx = None
try:
    from bs4 import BeautifulSoup
except ImportError:
    BeautifulSoup = None
try:
    import langdetect
except ImportError:
    langdetect = None

WORKERS = int(os.environ.get("BASELINE_WORKERS", "2"))
POOL = ProcessPoolExecutor(max_workers=WORKERS)
WORD = re.compile(r"\w+")
SENTENCE = re.compile(r"[.!?]+\s")

app = FastAPI()


def extract(data: bytes, filename: str) -> tuple[str, str]:
    name = filename.lower()
    if data.startswith(b"%PDF") and pypdf:
        reader = pypdf.PdfReader(io.BytesIO(data))
        return "pdf", "\n".join(page.extract_text() or "" for page in reader.pages)
    if data.startswith(b"PK") and name.endswith(".docx") and docx:
        document = docx.Document(io.BytesIO(data))
        return "docx", "\n".join(paragraph.text for paragraph in document.paragraphs)
    text = data.decode("utf-8", errors="replace")
    if name.endswith((".html", ".htm")) and BeautifulSoup:
        return "html", BeautifulSoup(text, "html.parser").get_text("\n")
    return "text", text


def analyze(data: bytes, filename: str) -> dict:
    try:
        fmt, text = extract(data, filename)
    except Exception as err:  # a broken document is an error, not a crash
        return {"error": {"code": "parse_failed", "message": str(err)}}
    language = None
    if langdetect and len(text) > 20:
        try:
            language = langdetect.detect(text[:65536])
        except Exception:
            language = None
    return {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "format": fmt,
        "language": language,
        "stats": {
            "characters": len(text),
            "words": len(WORD.findall(text)),
            "sentences": len(SENTENCE.findall(text)),
            "lines": text.count("\n"),
        },
        "worker_pid": os.getpid(),
    }


@app.post("/v1/analyze")
async def analyze_upload(file: UploadFile = File(...)):
    data = await file.read()
    try:
        report = await asyncio.get_running_loop().run_in_executor(POOL, analyze, data, file.filename or "")
    except BrokenProcessPool as err:
        return JSONResponse({"error": {"code": "worker_crashed", "message": str(err)}}, status_code=500)
    if "error" in report:
        return JSONResponse(report, status_code=422)
    report["filename"] = file.filename
    return report


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}

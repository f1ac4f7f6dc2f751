"""The design docmill replaces, as a baseline for measurements only:
FastAPI + a ProcessPoolExecutor, the analysis in worker processes.

Run: uvicorn --workers 1 --port PORT app:app (from this folder). The
analysis is deliberately light (hash, decode, word and line counts) so the
comparison measures the serving design, not the engine.
"""

import asyncio
import hashlib
import os
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from fastapi import FastAPI, File, UploadFile
from fastapi.responses import JSONResponse

WORKERS = int(os.environ.get("BASELINE_WORKERS", "2"))
POOL = ProcessPoolExecutor(max_workers=WORKERS)
WORD = re.compile(r"\w+")

app = FastAPI()


def analyze(data: bytes) -> dict:
    text = data.decode("utf-8", errors="replace")
    return {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "stats": {"characters": len(text), "words": len(WORD.findall(text)), "lines": text.count("\n")},
        "worker_pid": os.getpid(),
    }


@app.post("/v1/analyze")
async def analyze_upload(file: UploadFile = File(...)):
    data = await file.read()
    try:
        report = await asyncio.get_running_loop().run_in_executor(POOL, analyze, data)
    except BrokenProcessPool as err:
        return JSONResponse({"error": {"code": "worker_crashed", "message": str(err)}}, status_code=500)
    report["filename"] = file.filename
    return report


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}

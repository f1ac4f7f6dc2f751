"""Writes PDFs of one paragraph per script (Hindi, Thai, Arabic, Hebrew,
Chinese, Japanese, Korean, Greek, Russian) made by LibreOffice headless (from
.txt), fpdf2 (with and without text shaping) and reportlab with Noto fonts,
into a folder (default /tmp/scriptpdfs); with --score BINARY, prints the word
recall and precision of `docmill analyze --text` against the generating
string, pdftotext's recall, and the detected language. Producers or fonts
that are missing are skipped.

    python3 bench/script_pdfs.py [--out DIR] [--score target/release/docmill]
"""

import argparse
import glob
import importlib.util
import json
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("text_encodings", os.path.join(HERE, "text_encodings.py"))
enc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(enc)

TEXT = dict(enc.SAMPLES)
TEXT["hi"] = (
    "हिन्दी भाषा में यह एक परीक्षण दस्तावेज़ है। किताब पढ़ना अच्छा लगता है। क्षमा करें, विद्यालय कहाँ है? "
    "आज मौसम बहुत सुहावना है और बच्चे खेल रहे हैं।"
)
TEXT["th"] = "ภาษาไทยเป็นภาษาที่สวยงาม นี่คือเอกสารทดสอบ สวัสดีครับ ที่นี่คือกรุงเทพมหานคร วันนี้อากาศดีมาก"
LO_LANGS = ["hi", "th", "ar", "he", "zh", "ja", "ko", "el", "ru"]
NOTO = "/usr/share/fonts/truetype/noto/"
TTF = {
    "hi": "NotoSansDevanagari-Regular.ttf",
    "th": "NotoSansThai-Regular.ttf",
    "ar": "NotoSansArabic-Regular.ttf",
    "he": "NotoSansHebrew-Regular.ttf",
    "el": "NotoSans-Regular.ttf",
    "ru": "NotoSans-Regular.ttf",
}


def write_set(out):
    os.makedirs(out, exist_ok=True)
    if shutil.which("soffice"):
        txts = []
        for lang in LO_LANGS:
            path = os.path.join(out, f"lo-{lang}.txt")
            with open(path, "w") as f:
                f.write(TEXT[lang] + "\n")
            txts.append(path)
        subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", out, *txts], capture_output=True)
        for path in txts:
            os.remove(path)
    try:
        from fpdf import FPDF
    except ImportError:
        FPDF = None
    for lang, font in TTF.items():
        if FPDF is None or not os.path.exists(NOTO + font):
            continue
        for shaped in (False, True):
            pdf = FPDF()
            pdf.add_page()
            pdf.add_font("N", fname=NOTO + font)
            pdf.set_font("N", size=12)
            if shaped:
                try:
                    pdf.set_text_shaping(True)
                except Exception as err:  # uharfbuzz missing
                    print(f"fpdf2 shaping skipped: {err}")
                    continue
            pdf.multi_cell(0, 8, TEXT[lang])
            pdf.output(os.path.join(out, f"fpdf{'shaped' if shaped else ''}-{lang}.pdf"))
    try:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont
        from reportlab.pdfgen import canvas
    except ImportError:
        return
    for lang, font in TTF.items():
        if not os.path.exists(NOTO + font):
            continue
        pdfmetrics.registerFont(TTFont("N" + lang, NOTO + font))
        c = canvas.Canvas(os.path.join(out, f"reportlab-{lang}.pdf"))
        c.setFont("N" + lang, 11)
        y, line = 800, ""
        for word in TEXT[lang].split(" "):
            if len(line) + len(word) > 60:
                c.drawString(40, y, line)
                y, line = y - 16, ""
            line += word + " "
        c.drawString(40, y, line)
        c.save()


def score(binary, out):
    pdfs = sorted(glob.glob(os.path.join(out, "*-*.pdf")))
    lines = subprocess.run([binary, "analyze", "--text", *pdfs], capture_output=True, text=True).stdout
    reports = {r["filename"]: r for r in map(json.loads, filter(str.strip, lines.splitlines()))}
    for path in pdfs:
        lang = os.path.basename(path).split("-")[1].split(".")[0]
        ref = TEXT[lang]
        poppler = subprocess.run(["pdftotext", path, "-"], capture_output=True, text=True).stdout
        report = reports.get(path, {})
        got = report.get("text") or ""
        language = (report.get("language") or {}).get("code")
        print(
            f"{os.path.basename(path):22} recall={enc.recall(ref, got):.2f} precision={enc.recall(got, ref):.2f} "
            f"pdftotext={enc.recall(ref, poppler):.2f} language={language}"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/scriptpdfs")
    ap.add_argument("--score")
    args = ap.parse_args()
    write_set(args.out)
    if args.score:
        score(args.score, args.out)

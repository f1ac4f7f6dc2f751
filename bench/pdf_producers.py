"""Writes an evaluation set of PDFs made by many producers into a folder
(default /tmp/pdfset), for `examples/pdf_fidelity.rs` with DOCMILL_PDF_DIR:
reportlab (standard Type 1 fonts, an embedded TrueType font, CID fonts for
Chinese and Japanese, Hebrew and Arabic), fpdf2 (core fonts and an embedded
Unicode font), LibreOffice (Word and OpenDocument files written here),
Chromium's print-to-PDF (prose, two columns, a table, CJK and RTL pages) and
qpdf's rewrites of each (object streams, uncompressed, linearized).
Producers that are not installed are skipped with a message.

    python3 bench/pdf_producers.py [--out /tmp/pdfset]
"""

import argparse
import os
import random
import shutil
import subprocess
import tempfile

WORDS = (
    "analysis document reader text page layout column river mountain library "
    "window garden history science market table report north south value "
    "engine letter number season harbour village winter summer question answer "
    "measure station bridge forest island silver golden morning evening quiet "
    "careful simple modern ancient through between against because without"
).split()
CJK = "文档分析系统读取页面文字内容并计算关键词日本語の文章を読み取り解析します中文段落测试"
HEBREW = "שלום עולם זהו מסמך לבדיקה של קריאת טקסט מימין לשמאל"
ARABIC = "مرحبا بالعالم هذا مستند لاختبار قراءة النص من اليمين إلى اليسار"
FONT_DIRS = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/opentype/noto"]


def prose(seed, paragraphs=6, words=80):
    rng = random.Random(seed)
    out = []
    for _ in range(paragraphs):
        sentence = [rng.choice(WORDS) for _ in range(words)]
        sentence[0] = sentence[0].capitalize()
        out.append(" ".join(sentence) + ".")
    return out


def font(name):
    for folder in FONT_DIRS:
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    return None


def reportlab_set(out):
    try:
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import getSampleStyleSheet
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont
        from reportlab.pdfbase.ttfonts import TTFont
        from reportlab.platypus import Paragraph, SimpleDocTemplate, Table
    except ImportError:
        print("skipped: reportlab is not installed (pip install reportlab)")
        return
    styles = getSampleStyleSheet()
    for family in ["Helvetica", "Times-Roman", "Courier"]:
        style = styles["BodyText"].clone(family, fontName=family)
        story = [Paragraph(p, style) for p in prose(family, 12)]
        SimpleDocTemplate(os.path.join(out, f"reportlab-{family}.pdf"), pagesize=A4).build(story)
    dejavu = font("DejaVuSans.ttf")
    if dejavu:
        pdfmetrics.registerFont(TTFont("DejaVu", dejavu))
        style = styles["BodyText"].clone("dv", fontName="DejaVu")
        story = [Paragraph(p, style) for p in prose("dejavu", 10)]
        rows = [[w, str(i), WORDS[(i * 7) % len(WORDS)]] for i, w in enumerate(WORDS[:30])]
        story.append(Table(rows))
        SimpleDocTemplate(os.path.join(out, "reportlab-ttf-table.pdf")).build(story)
        story = [Paragraph(HEBREW, style), Paragraph(ARABIC, style)] * 6
        SimpleDocTemplate(os.path.join(out, "reportlab-rtl.pdf")).build(story)
    for cid, name in [("STSong-Light", "zh"), ("HeiseiMin-W3", "ja")]:
        pdfmetrics.registerFont(UnicodeCIDFont(cid))
        style = styles["BodyText"].clone(cid, fontName=cid)
        story = [Paragraph(CJK, style) for _ in range(8)]
        SimpleDocTemplate(os.path.join(out, f"reportlab-cid-{name}.pdf")).build(story)


def fpdf_set(out):
    try:
        from fpdf import FPDF
    except ImportError:
        print("skipped: fpdf2 is not installed (pip install fpdf2)")
        return
    for family in ["Helvetica", "Times"]:
        pdf = FPDF()
        pdf.add_page()
        pdf.set_font(family, size=11)
        for p in prose("fpdf" + family, 14):
            pdf.multi_cell(0, 6, p)
            pdf.ln(3)
        pdf.output(os.path.join(out, f"fpdf-{family}.pdf"))
    dejavu = font("DejaVuSans.ttf")
    if dejavu:
        pdf = FPDF()
        pdf.add_page()
        pdf.add_font("DejaVu", fname=dejavu)
        pdf.set_font("DejaVu", size=11)
        for p in prose("fpdf-ttf", 8) + ["Grüße aus Köln, déjà vu, naïve café, Ωmega Σigma"]:
            pdf.multi_cell(0, 6, p)
            pdf.ln(3)
        pdf.output(os.path.join(out, "fpdf-ttf.pdf"))


def office_set(out, work):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        print("skipped: LibreOffice is not installed (apt-get install libreoffice-writer-nogui)")
        return
    sources = []
    try:
        import docx

        document = docx.Document()
        document.add_heading("Quarterly report of the northern library", 1)
        for p in prose("docx", 10):
            document.add_paragraph(p)
        table = document.add_table(rows=6, cols=3)
        for r, row in enumerate(table.rows):
            for c, cell in enumerate(row.cells):
                cell.text = WORDS[(r * 3 + c) % len(WORDS)]
        document.add_paragraph(CJK)
        path = os.path.join(work, "office-docx.docx")
        document.save(path)
        sources.append(path)
    except ImportError:
        print("skipped the Word file: python-docx is not installed")
    # An OpenDocument text through LibreOffice's own HTML import.
    html = os.path.join(work, "office-odt.html")
    with open(html, "w") as f:
        f.write("<html><body><h1>Harbour survey</h1>")
        f.write("".join(f"<p>{p}</p>" for p in prose("odt", 10)))
        f.write(f"<p>{HEBREW}</p><p>{ARABIC}</p></body></html>")
    subprocess.run([soffice, "--headless", "--convert-to", "odt", "--outdir", work, html], capture_output=True)
    if os.path.exists(os.path.join(work, "office-odt.odt")):
        sources.append(os.path.join(work, "office-odt.odt"))
    for source in sources:
        subprocess.run([soffice, "--headless", "--convert-to", "pdf", "--outdir", out, source], capture_output=True)


def chromium_set(out, work):
    chromium = shutil.which("chromium")
    if not chromium:
        print("skipped: Chromium is not installed (apt-get install chromium)")
        return
    pages = {
        "prose": "".join(f"<p>{p}</p>" for p in prose("chrome", 14)),
        "columns": "<div style='column-count:2'>" + "".join(f"<p>{p}</p>" for p in prose("cols", 12)) + "</div>",
        "table": "<table border=1>"
        + "".join(f"<tr><td>{w}</td><td>{i}</td><td>{WORDS[-1 - i]}</td></tr>" for i, w in enumerate(WORDS[:40]))
        + "</table>",
        "cjk": "".join(f"<p>{CJK}</p>" for _ in range(10)),
        "rtl": f"<div dir=rtl>{''.join(f'<p>{HEBREW}</p><p>{ARABIC}</p>' for _ in range(6))}</div>",
    }
    for name, body in pages.items():
        html = os.path.join(work, f"chromium-{name}.html")
        with open(html, "w") as f:
            f.write(f"<html><meta charset=utf-8><body>{body}</body></html>")
        target = os.path.join(out, f"chromium-{name}.pdf")
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
             f"--print-to-pdf={target}", "file://" + html],
            capture_output=True, timeout=120,
        )


def qpdf_variants(out):
    qpdf = shutil.which("qpdf")
    if not qpdf:
        print("skipped: qpdf is not installed (apt-get install qpdf)")
        return
    originals = sorted(f for f in os.listdir(out) if f.endswith(".pdf"))
    for name in originals[::2]:
        source = os.path.join(out, name)
        stem = name[:-4]
        for tag, args in [
            ("objstm", ["--object-streams=generate"]),
            ("qdf", ["--qdf", "--object-streams=disable", "--stream-data=uncompress"]),
            ("linear", ["--linearize"]),
        ]:
            subprocess.run([qpdf, *args, source, os.path.join(out, f"{stem}.{tag}.pdf")], capture_output=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/pdfset")
    out = parser.parse_args().out
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        reportlab_set(out)
        fpdf_set(out)
        office_set(out, work)
        chromium_set(out, work)
        qpdf_variants(out)
    print(f"{len([f for f in os.listdir(out) if f.endswith('.pdf')])} PDFs in {out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes PDFs whose outline (bookmarks) names their real sections, as the
reference for measuring docmill's PDF heading detection (the
`structure_figures` example of docmill-engine strips the outline and counts
how many of its titles the font-size detector finds, and how many detected
headings are not in it).

Two producers, each setting headings its own way:
- fpdf2 (`start_section`): core fonts (Helvetica, Times, Courier), body 9 to
  12 pt, headings 1.2 to 2 times larger, bold or not, numbered or not, with a
  running header on every page, bullet lists and a table;
- Chromium print-to-PDF of HTML with h1-h3 (`--generate-pdf-document-outline`),
  in several font families and sizes, when `chromium` is installed.

Usage: python3 bench/outlined_pdfs.py /tmp/docmill-outlined
"""

import os
import random
import shutil
import subprocess
import sys
import tempfile

from fpdf import FPDF

WORDS = (
    "the committee reviewed figures budget region growth costs fell rose market "
    "service customers quarter annual report analysis water river basin model "
    "results method sample survey policy energy supply demand plan staff"
).split()

TOPICS = [
    "Introduction", "Background", "Methods", "Data collection", "Results",
    "Discussion", "Limitations", "Related work", "Budget", "Staffing",
    "Regional outlook", "Water supply", "Energy demand", "Survey design",
    "Sampling", "Findings", "Recommendations", "Conclusion", "Appendix",
    "Glossary", "Risk register", "Timeline", "Governance", "Market review",
]


def sentence(rng):
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
    return " ".join(words).capitalize() + "."


def paragraph(rng):
    return " ".join(sentence(rng) for _ in range(rng.randint(3, 7)))


def sections(rng):
    """(level, title) of a document: chapters with sections and subsections."""
    out = []
    topics = rng.sample(TOPICS, len(TOPICS))
    chapters = rng.randint(3, 5)
    for c in range(chapters):
        out.append((0, topics.pop()))
        for s in range(rng.randint(1, 3)):
            out.append((1, topics.pop() if topics else f"Part {c}.{s}"))
            if rng.random() < 0.3 and topics:
                out.append((2, topics.pop()))
    return out


class Doc(FPDF):
    running = ""

    def header(self):
        if self.running:
            self.set_font(self.body_font, "I", self.body_size)
            self.cell(0, 8, self.running, new_x="LMARGIN", new_y="NEXT")


def fpdf_document(seed, path):
    rng = random.Random(seed)
    pdf = Doc()
    pdf.body_font = rng.choice(["Helvetica", "Times", "Courier"])
    pdf.body_size = rng.choice([9, 10, 11, 12])
    pdf.running = rng.choice(["", "Annual report 2026", "Internal: draft"])
    ratios = sorted((rng.uniform(1.2, 2.0) for _ in range(3)), reverse=True)
    bold = rng.random() < 0.7
    numbered = rng.random() < 0.5
    heading_font = rng.choice([pdf.body_font, "Helvetica", "Times"])
    pdf.add_page()
    counters = [0, 0, 0]
    for level, title in sections(rng):
        counters[level] += 1
        for deeper in range(level + 1, 3):
            counters[deeper] = 0
        label = title
        if numbered:
            label = ".".join(str(n) for n in counters[: level + 1]) + " " + title
        if level == 0 and rng.random() < 0.4:
            pdf.add_page()
        pdf.start_section(label, level=level)
        size = round(pdf.body_size * ratios[level])
        pdf.set_font(heading_font, "B" if bold else "", size)
        pdf.ln(2)
        pdf.cell(0, size * 0.6, label, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
        pdf.set_font(pdf.body_font, "", pdf.body_size)
        for _ in range(rng.randint(1, 3)):
            pdf.multi_cell(0, pdf.body_size * 0.5, paragraph(rng), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        if rng.random() < 0.3:
            for _ in range(rng.randint(2, 4)):
                pdf.multi_cell(0, pdf.body_size * 0.5, "- " + sentence(rng), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    pdf.output(path)


HTML = """<!doctype html><html><head><meta charset="utf-8"><style>
body {{ font-family: {family}; font-size: {size}pt; }}
h1 {{ font-size: {h1}em; }} h2 {{ font-size: {h2}em; }} h3 {{ font-size: {h3}em; }}
</style></head><body>{body}</body></html>"""


def html_document(seed, html_path):
    rng = random.Random(seed)
    body = []
    for level, title in sections(rng):
        body.append(f"<h{level + 1}>{title}</h{level + 1}>")
        for _ in range(rng.randint(1, 3)):
            body.append(f"<p>{paragraph(rng)}</p>")
        if rng.random() < 0.3:
            items = "".join(f"<li>{sentence(rng)}</li>" for _ in range(rng.randint(2, 4)))
            body.append(f"<ul>{items}</ul>")
    family = rng.choice(["serif", "sans-serif", "monospace", "DejaVu Serif", "Liberation Sans"])
    html = HTML.format(
        family=family,
        size=rng.choice([9, 10, 11, 12]),
        h1=round(rng.uniform(1.8, 2.4), 2),
        h2=round(rng.uniform(1.4, 1.7), 2),
        h3=round(rng.uniform(1.2, 1.35), 2),
        body="\n".join(body),
    )
    with open(html_path, "w", encoding="utf-8") as out:
        out.write(html)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/docmill-outlined"
    os.makedirs(out, exist_ok=True)
    for seed in range(20):
        fpdf_document(seed, os.path.join(out, f"fpdf-{seed:02}.pdf"))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("chromium not found: only the fpdf2 documents were written", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as scratch:
        for seed in range(10):
            html = os.path.join(scratch, f"{seed}.html")
            html_document(100 + seed, html)
            pdf = os.path.join(out, f"chromium-{seed:02}.pdf")
            subprocess.run(
                [
                    chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    "--generate-pdf-document-outline", f"--user-data-dir={scratch}/profile",
                    f"--print-to-pdf={pdf}", f"file://{html}",
                ],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
            )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Documents from producers docmill's fixtures do not come from, before and after.

Writes HTML pages in eleven languages (a heading, a paragraph long enough to
wrap, a list, a two-column table), prints them to PDF with headless Chromium,
and compares two docmill binaries on them with pdftotext (poppler) as the
reference:

- words: the share of pdftotext's words found as words in docmill's text;
- joined: table cell pairs ("Name Value", "alpha 10", "beta 20") read as one
  word ("NameValue");
- cjk gaps: spaces docmill's Markdown puts inside a paragraph of Chinese or
  Japanese where the PDF only wrapped the line;
- language: the code docmill names.

Needs chromium and pdftotext on PATH.

    python3 bench/producers.py --before OLD/docmill --after target/release/docmill
"""

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

SENTENCES = {
    "en": "The committee approved the annual budget after a long discussion about the costs of the new library building and the maintenance of the public parks.",
    "de": "Der Ausschuss genehmigte den Jahreshaushalt nach einer langen Diskussion über die Kosten des neuen Bibliotheksgebäudes und die Pflege der öffentlichen Parks.",
    "ru": "Комитет утвердил годовой бюджет после долгого обсуждения расходов на строительство новой библиотеки и содержание городских парков.",
    "el": "Η επιτροπή ενέκρινε τον ετήσιο προϋπολογισμό μετά από μακρά συζήτηση για το κόστος του νέου κτιρίου της βιβλιοθήκης και τη συντήρηση των δημόσιων πάρκων.",
    "ar": "وافقت اللجنة على الميزانية السنوية بعد نقاش طويل حول تكاليف مبنى المكتبة الجديد وصيانة الحدائق العامة في المدينة.",
    "he": "הוועדה אישרה את התקציב השנתי לאחר דיון ארוך על עלויות בניין הספרייה החדש ועל תחזוקת הגנים הציבוריים בעיר.",
    "hi": "समिति ने नए पुस्तकालय भवन की लागत और सार्वजनिक पार्कों के रखरखाव के बारे में लंबी चर्चा के बाद वार्षिक बजट को मंजूरी दी। यह निर्णय शहर के लिए बहुत महत्वपूर्ण है।",
    "th": "คณะกรรมการอนุมัติงบประมาณประจำปีหลังจากการอภิปรายอย่างยาวนานเกี่ยวกับค่าใช้จ่ายของอาคารห้องสมุดใหม่และการบำรุงรักษาสวนสาธารณะ",
    "zh": "委员会在就新图书馆大楼的费用和公园维护进行长时间讨论后批准了年度预算。这项决定对城市非常重要。",
    "ja": "委員会は、新しい図書館の建設費用と公園の維持管理について長い議論を行った後、年間予算を承認しました。",
    "ko": "위원회는 새 도서관 건물의 비용과 공원 유지 관리에 대한 긴 논의 끝에 연간 예산을 승인했습니다. 이 결정은 도시에 매우 중요합니다.",
}
RTL = {"ar", "he"}
PAIRS = [("Name", "Value"), ("alpha", "10"), ("beta", "20")]
WIDE = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff01-\uff9f]")


def page(code, sentence):
    direction = ' dir="rtl"' if code in RTL else ""
    s = html.escape(sentence)
    rows = "".join(f"<tr><td>{a}</td><td>{b}</td></tr>" for a, b in PAIRS[1:])
    return (
        f'<!doctype html><html lang="{code}"{direction}><head><meta charset="utf-8"><title>Title {code}</title></head>'
        f"<body><h1>Report {code}</h1><p>{s}</p><h2>Section two</h2><ul><li>{s[:40]}</li><li>second item</li></ul>"
        f"<table border=1><tr><th>Name</th><th>Value</th></tr>{rows}</table><p>{s}</p></body></html>"
    )


def print_pdf(source, target, profile):
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         f"--print-to-pdf={target}", str(source)],
        check=True, capture_output=True, timeout=120,
    )


def report(binary, path):
    out = subprocess.run([binary, "analyze", "--text", "--markdown", str(path)], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return json.loads(out.splitlines()[0])


def measures(r, reference):
    text = r.get("text") or ""
    words = Counter(text.split())
    # pdftotext wraps right-to-left runs in bidi embedding marks.
    ref = Counter(re.sub("[\u200e\u200f\u202a-\u202e]", "", reference).split())
    found = sum(min(n, words[w]) for w, n in ref.items())
    joined = sum(1 for a, b in PAIRS if (a + b) in words)
    gaps = 0
    for block in (r.get("markdown") or "").split("\n\n"):
        gaps += len(re.findall(f"(?<={WIDE.pattern}) (?={WIDE.pattern})", block))
    lang = (r.get("language") or {}).get("code")
    return found / max(1, sum(ref.values())), joined, gaps, lang


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    args = parser.parse_args()
    for tool in ("chromium", "pdftotext"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"{'doc':4} {'words before/after':>19} {'joined':>8} {'cjk gaps':>9} {'language':>9}")
        totals = [0, 0, 0, 0]
        for code, sentence in SENTENCES.items():
            source, pdf = tmp / f"{code}.html", tmp / f"{code}.pdf"
            source.write_text(page(code, sentence), encoding="utf-8")
            print_pdf(source, pdf, tmp / "profile")
            reference = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                                       text=True).stdout
            b = measures(report(args.before, pdf), reference)
            a = measures(report(args.after, pdf), reference)
            totals = [totals[0] + b[1], totals[1] + a[1], totals[2] + b[2], totals[3] + a[2]]
            print(f"{code:4} {b[0]:9.3f}/{a[0]:.3f} {b[1]:>4}/{a[1]:<3} {b[2]:>4}/{a[2]:<4} {str(b[3]):>4}/{a[3]}")
        print(f"total joined cells {totals[0]} -> {totals[1]}; cjk gaps {totals[2]} -> {totals[3]}")


if __name__ == "__main__":
    main()

"""Writes plain-text and HTML files in legacy encodings into a folder (default
/tmp/encset) and, with --score BINARY, analyses each with `docmill analyze
--text` and prints word recall against the generating string, the encoding
docmill reported and the language it detected.

Each sample is a paragraph in one language, written as .txt (bare bytes), as
HTML with `<meta charset>`, as HTML with `http-equiv`, and (for UTF-8) as
HTML whose meta tag lies (declares ISO-8859-1 while the bytes are UTF-8).

    python3 bench/text_encodings.py [--out /tmp/encset] [--score target/release/docmill] [--only-txt]
"""

import argparse
import json
import os
import re
import subprocess

SAMPLES = {
    "ja": "日本語の文章を読み取り、内容を解析します。東京の天気は晴れで、午後から雨が降るでしょう。図書館で新しい本を借りて、週末に読むつもりです。",
    "zh": "文档分析系统读取页面文字内容并计算关键词。北京今天天气晴朗，下午可能会下雨。我们在图书馆借了几本新书，周末准备阅读。",
    "zh-tw": "文件分析系統讀取頁面文字內容並計算關鍵詞。臺北今天天氣晴朗，下午可能會下雨。我們在圖書館借了幾本新書，週末準備閱讀。",
    "ko": "문서 분석 시스템은 페이지의 글자를 읽고 핵심어를 계산합니다. 서울의 오늘 날씨는 맑고 오후에는 비가 올 수 있습니다. 우리는 도서관에서 새 책을 빌려 주말에 읽을 예정입니다.",
    "ru": "Система анализа документов читает текст страницы и вычисляет ключевые слова. Сегодня в Москве ясная погода, а после обеда может пойти дождь. Мы взяли в библиотеке несколько новых книг и прочитаем их в выходные.",
    "pl": "System analizy dokumentów czyta tekst strony i oblicza słowa kluczowe. Dzisiaj w Krakowie jest słoneczna pogoda, a po południu może padać deszcz. Wypożyczyliśmy w bibliotece kilka nowych książek i przeczytamy je w weekend.",
    "cs": "Systém pro analýzu dokumentů čte text stránky a počítá klíčová slova. Dnes je v Praze slunečné počasí, odpoledne může pršet. V knihovně jsme si půjčili několik nových knih a přečteme je o víkendu.",
    "fr": "Le système d'analyse lit le texte de la page et calcule les mots clés. Aujourd'hui à Paris il fait beau, mais il pourrait pleuvoir cet après-midi. Nous avons emprunté quelques nouveaux livres à la bibliothèque et nous les lirons ce week-end.",
    "de": "Das Analysesystem liest den Text der Seite und berechnet die Schlüsselwörter. Heute ist das Wetter in München schön, am Nachmittag könnte es regnen. Wir haben in der Bücherei einige neue Bücher ausgeliehen und werden sie am Wochenende lesen.",
    "hu": "A dokumentumelemző rendszer beolvassa az oldal szövegét, és kiszámítja a kulcsszavakat. Ma Budapesten szép idő van, de délután eshet az eső. A könyvtárból kölcsönöztünk néhány új könyvet, és hétvégén elolvassuk őket.",
    "pt": "O sistema de análise lê o texto da página e calcula as palavras-chave. Hoje em Lisboa o tempo está bom, mas à tarde pode chover. Pedimos emprestados alguns livros novos na biblioteca e vamos lê-los no fim de semana, se não houver distrações.",
    "es": "El sistema de análisis lee el texto de la página y calcula las palabras clave. Hoy en Madrid hace buen tiempo, pero por la tarde podría llover. Tomamos prestados algunos libros nuevos en la biblioteca y los leeremos el fin de semana, ¿verdad?",
    "ar": "يقرأ نظام تحليل المستندات نص الصفحة ويحسب الكلمات المفتاحية. الطقس اليوم في القاهرة مشمس وقد تمطر بعد الظهر. استعرنا من المكتبة بعض الكتب الجديدة وسنقرأها في عطلة نهاية الأسبوع.",
    "he": "מערכת ניתוח המסמכים קוראת את הטקסט של העמוד ומחשבת מילות מפתח. היום בירושלים מזג האוויר נאה ואחר הצהריים עשוי לרדת גשם. שאלנו מהספרייה כמה ספרים חדשים ונקרא אותם בסוף השבוע.",
    "el": "Το σύστημα ανάλυσης εγγράφων διαβάζει το κείμενο της σελίδας και υπολογίζει τις λέξεις κλειδιά. Σήμερα στην Αθήνα ο καιρός είναι ηλιόλουστος και το απόγευμα μπορεί να βρέξει. Δανειστήκαμε από τη βιβλιοθήκη μερικά καινούργια βιβλία και θα τα διαβάσουμε το Σαββατοκύριακο.",
}

# (encoding python name, label for HTML meta, sample languages)
ENCODINGS = [
    ("shift_jis", "Shift_JIS", ["ja"]),
    ("euc_jp", "EUC-JP", ["ja"]),
    ("iso2022_jp", "ISO-2022-JP", ["ja"]),
    ("gb18030", "GB18030", ["zh"]),
    ("gbk", "GBK", ["zh"]),
    ("big5", "Big5", ["zh-tw"]),
    ("euc_kr", "EUC-KR", ["ko"]),
    ("cp1251", "windows-1251", ["ru"]),
    ("koi8_r", "KOI8-R", ["ru"]),
    ("iso8859_2", "ISO-8859-2", ["pl", "cs", "hu"]),
    ("cp1250", "windows-1250", ["pl", "cs", "hu"]),
    ("cp1252", "windows-1252", ["fr", "de", "pt", "es"]),
    # DOS and classic Mac OS code pages, which chardetng does not guess.
    ("cp437", "IBM437", ["fr", "de", "es"]),
    ("cp850", "IBM850", ["fr", "de", "pt", "es"]),
    ("cp852", "IBM852", ["pl", "cs", "hu"]),
    ("cp866", "IBM866", ["ru"]),
    ("mac_roman", "macintosh", ["fr", "de", "pt", "es"]),
    ("mac_latin2", "x-mac-ce", ["pl", "cs", "hu"]),
    ("mac_cyrillic", "x-mac-cyrillic", ["ru"]),
    ("cp1256", "windows-1256", ["ar"]),
    ("cp1255", "windows-1255", ["he"]),
    ("iso8859_7", "ISO-8859-7", ["el"]),
    ("utf-16-le", "UTF-16LE", ["ja", "ru", "el", "fr"]),
    ("utf-16-be", "UTF-16BE", ["ja", "ru", "el", "fr"]),
    ("utf-16", "UTF-16", ["ja", "ru"]),  # with BOM
    ("utf-8", "UTF-8", ["ja", "ru", "fr", "ar"]),
]


def html(text, head):
    body = "".join(f"<p>{p}</p>\n" for p in re.split(r"(?<=[.。])\s*", text) if p)
    return f"<!DOCTYPE html>\n<html><head>{head}<title>t</title></head><body>\n{body}</body></html>\n"


def write_set(out, only_txt=False):
    os.makedirs(out, exist_ok=True)
    made = []
    for codec, label, langs in ENCODINGS:
        for lang in langs:
            text = SAMPLES[lang] * 3
            stem = f"{label}-{lang}"
            files = {f"{stem}.txt": text}
            if not codec.startswith("utf-16") and not only_txt:
                files[f"{stem}-meta.html"] = html(text, f'<meta charset="{label}">')
                files[f"{stem}-equiv.html"] = html(
                    text, f'<meta http-equiv="Content-Type" content="text/html; charset={label}">'
                )
            if codec == "utf-8":
                files[f"{stem}-lying.html"] = html(text, '<meta charset="ISO-8859-1">')
                files[f"{stem}-lying1252.html"] = html(
                    text, '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
                )
            for name, content in files.items():
                path = os.path.join(out, name)
                with open(path, "wb") as f:
                    f.write(content.encode(codec))
                made.append((path, lang, text))
    return made


def words(text):
    # CJK and Thai have no spaces: compare characters of those scripts, words elsewhere.
    tokens = []
    for w in re.findall(r"\w+", text):
        if re.search(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]", w):
            tokens.extend(w)
        else:
            tokens.append(w.lower())
    return tokens


def recall(ref, got):
    from collections import Counter

    r, g = Counter(words(ref)), Counter(words(got))
    hit = sum(min(c, g[w]) for w, c in r.items())
    return hit / max(1, sum(r.values()))


def score(binary, made):
    paths = [p for p, _, _ in made]
    out = subprocess.run([binary, "analyze", "--text", *paths], capture_output=True, text=True).stdout
    reports = [json.loads(line) for line in out.splitlines() if line.strip()]
    by_name = {r["filename"]: r for r in reports}
    bad = 0
    for path, lang, text in made:
        r = by_name.get(path, {})
        rec = recall(text, r.get("text") or "")
        language = (r.get("language") or {}).get("code") if isinstance(r.get("language"), dict) else r.get("language")
        enc = (r.get("metadata") or {}).get("encoding")
        flag = "" if rec > 0.95 else "  <-- MISREAD"
        bad += rec <= 0.95
        print(f"{os.path.basename(path):32} {lang:6} enc={str(enc):14} lang={str(language):6} recall={rec:.2f}{flag}")
    print(f"{len(made)} files, {bad} misread")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/encset")
    ap.add_argument("--score")
    ap.add_argument("--only-txt", action="store_true", help="bare text only, no HTML")
    args = ap.parse_args()
    made = write_set(args.out, args.only_txt)
    if args.score:
        score(args.score, made)

#!/usr/bin/env python3
"""Renders the OCR test fixtures: pages of typed text in several fonts, as
PNG, JPEG and multi-page TIFF, turned 90/180/270 degrees, a two-page scanned
PDF, and a photo-like image without text. Writes them to OUT_DIR with a
manifest.json mapping each file to the text drawn on it.

Needs Pillow and the DejaVu and Liberation fonts (.ci/run installs
python3-pil, fonts-dejavu-core and fonts-liberation).

    render_text.py OUT_DIR
"""

import json
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONTS = {
    "sans": "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "serif": "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "mono": "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "liberation": "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
}

PARAGRAPHS = [
    "The quarterly report shows that revenue grew by twelve percent while "
    "operating costs remained stable across all regions.",
    "Our engineers replaced the old billing system with a faster service that "
    "handles invoices, refunds and customer accounts in one place.",
    "Please send the signed contract to the legal department before the end "
    "of the month so that the shipment can leave the warehouse on time.",
    "Weather permitting, the annual company picnic will take place in the "
    "park near the river, with games, music and lunch for every family.",
    "A careful reader will notice that each sentence on this page was written "
    "to exercise common letters, numbers like 2024 and punctuation.",
    "The library opens at nine in the morning and closes at six in the "
    "evening, except on public holidays when it stays closed all day.",
]

GERMAN = (
    "Die Mitarbeiter treffen sich jeden Montag im großen Saal, um über die "
    "Ergebnisse der vergangenen Woche und die nächsten Aufgaben zu sprechen."
)

WIDTH = 2000
MARGIN = 120


def wrap(draw, text, font, width):
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) <= width:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


def page(paragraphs, font_name, size=40):
    """A white page with the paragraphs drawn in black, about 300 dpi."""
    font = ImageFont.truetype(FONTS[font_name], size)
    probe = ImageDraw.Draw(Image.new("L", (10, 10), 255))
    blocks = [wrap(probe, p, font, WIDTH - 2 * MARGIN) for p in paragraphs]
    line_height = int(size * 1.5)
    height = MARGIN * 2 + sum(len(b) * line_height + line_height for b in blocks)
    image = Image.new("L", (WIDTH, height), 255)
    draw = ImageDraw.Draw(image)
    y = MARGIN
    for block in blocks:
        for line in block:
            draw.text((MARGIN, y), line, font=font, fill=0)
            y += line_height
        y += line_height
    return image


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {}

    def save(name, image, text, **options):
        image.save(out / name, **options)
        manifest[name] = text

    two = PARAGRAPHS[:2]
    text = " ".join(two)
    for font in FONTS:
        save(f"upright-{font}.png", page(two, font), text)
    save("upright-serif.jpg", page(two, "serif").convert("RGB"), text, quality=90)
    upright = page(two, "sans")
    for degrees in (90, 180, 270):
        # PIL turns counterclockwise; a page scanned turned clockwise by D
        # is the upright page turned counterclockwise by 360 - D.
        save(f"rotated-{degrees}.png", upright.rotate(360 - degrees, expand=True), text)
    save("rotated-90.jpg", upright.rotate(270, expand=True).convert("RGB"), text, quality=90)
    # A scanned page upside down: docmill turns the page image of a PDF too.
    save("rotated-180.pdf", upright.rotate(180).convert("RGB"), text, resolution=300.0)

    tiff_pages = [page([p], font) for p, font in zip(PARAGRAPHS[2:5], ["sans", "serif", "mono"])]
    tiff_pages[0].save(
        out / "three-pages.tiff", save_all=True, append_images=tiff_pages[1:], compression="tiff_deflate", dpi=(300, 300)
    )
    manifest["three-pages.tiff"] = " ".join(PARAGRAPHS[2:5])

    scans = [page([PARAGRAPHS[4]], "serif").convert("RGB"), page([PARAGRAPHS[5]], "sans").convert("RGB")]
    scans[0].save(out / "scanned.pdf", save_all=True, append_images=scans[1:], resolution=300.0)
    manifest["scanned.pdf"] = " ".join(PARAGRAPHS[4:6])

    fax = [page([PARAGRAPHS[0]], "sans").convert("1")]
    fax[0].save(out / "scanned-bilevel.pdf", resolution=300.0)
    manifest["scanned-bilevel.pdf"] = PARAGRAPHS[0]

    save("german.png", page([GERMAN], "serif"), GERMAN)

    # A photo-like picture: a colour gradient with noise and soft blobs.
    rng = random.Random(7)
    photo = Image.new("RGB", (1200, 900))
    pixels = photo.load()
    for y in range(900):
        for x in range(1200):
            noise = rng.randint(-40, 40)
            pixels[x, y] = (
                max(0, min(255, x * 255 // 1200 + noise)),
                max(0, min(255, y * 255 // 900 + noise)),
                max(0, min(255, 160 + noise)),
            )
    draw = ImageDraw.Draw(photo)
    for _ in range(12):
        cx, cy, r = rng.randint(0, 1200), rng.randint(0, 900), rng.randint(30, 160)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)))
    save("photo.jpg", photo, "", quality=85)
    # The same photo as the one page of a PDF: a page OCR finds no text on.
    save("photo.pdf", photo, "", resolution=150.0)

    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])

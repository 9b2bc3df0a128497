#!/usr/bin/env python3
"""The README's attention figures, cut from the HTML pages heed itself writes:
  docs/images/caption_attention.png  `heed caption` on examples/shapes-test/001.png
  docs/images/vqa_attention.png      `heed vqa` on the same picture, two questions
Run after building: python3 scripts/readme_figures.py [build/heed]
"""
import base64
import io
import os
import re
import subprocess
import sys
import tempfile

from PIL import Image, ImageDraw

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
HEED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "heed")
PICTURE = os.path.join(ROOT, "examples", "shapes-test", "001.png")


def figures(html_path):
    html = open(html_path).read()
    return [(alt.replace("&lt;", "<").replace("&gt;", ">"), Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB"))
            for alt, b in re.findall(r'alt="([^"]*)" src="data:image/png;base64,([^"]+)"', html)]


def strip(items, path, per_row=8, label_height=18):
    w, h = items[0][1].size
    rows = (len(items) + per_row - 1) // per_row
    sheet = Image.new("RGB", (w * min(per_row, len(items)), (h + label_height) * rows), "white")
    d = ImageDraw.Draw(sheet)
    for i, (label, img) in enumerate(items):
        x, y = (i % per_row) * w, (i // per_row) * (h + label_height)
        sheet.paste(img, (x, y + label_height))
        d.text((x + 4, y + 3), label, fill="black")
    sheet.save(path)
    print("wrote", path)


def main():
    out = os.path.join(ROOT, "docs", "images")
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cap_html = os.path.join(tmp, "cap.html")
        caption = subprocess.run([HEED, "caption", os.path.join(ROOT, "examples", "shapes-caption"), PICTURE,
                                  "--attention", cap_html], capture_output=True, text=True, check=True).stdout.strip()
        items = figures(cap_html)
        strip([("picture", items[0][1])] + items[1:], os.path.join(out, "caption_attention.png"))
        print("caption:", caption)
        answers = []
        for q in ("what color is the square?", "what shape is red?"):
            vqa_html = os.path.join(tmp, "vqa.html")
            a = subprocess.run([HEED, "vqa", os.path.join(ROOT, "examples", "shapes-vqa"), PICTURE, q, "--top", "1",
                                "--attention", vqa_html], capture_output=True, text=True, check=True).stdout.split("\t")[0]
            glimpses = figures(vqa_html)[1:]
            answers += [(f"{a}: glimpse {i + 1}", g) for i, (_, g) in enumerate(glimpses)]
            print(q, "->", a)
        strip([("picture", items[0][1])] + answers, os.path.join(out, "vqa_attention.png"))


if __name__ == "__main__":
    main()

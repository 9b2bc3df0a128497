"""Synthetic pictures of coloured shapes, with captions and questions, for the
bundled captioning and VQA demo models.

A picture is 128x128, white, with one to three shapes of different kinds
(circle, square, triangle) and different colours (red, green, blue, yellow), one
in each of up to three columns, so "left of" is never ambiguous.
  caption:   "a red circle left of a blue square"
  questions: "what color is the circle?", "what shape is red?",
             "how many shapes are there?", "is there a triangle?"
"""
import random

from PIL import Image, ImageDraw

SIZE = 128
COLORS = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 220), "yellow": (235, 200, 20)}
SHAPES = ("circle", "square", "triangle")
COUNTS = {1: "one", 2: "two", 3: "three"}
ANSWERS = list(COLORS) + list(SHAPES) + list(COUNTS.values()) + ["yes", "no"]


def scene(rng):
    """-> list of (shape, colour, x centre, y centre, half size), left to right"""
    n = rng.randint(1, 3)
    columns = sorted(rng.sample(range(3), n))
    shapes, colors = rng.sample(SHAPES, n), rng.sample(list(COLORS), n)
    out = []
    for col, shape, color in zip(columns, shapes, colors):
        r = rng.randint(11, 16)
        x = 22 + col * 42 + rng.randint(-4, 4)
        y = rng.randint(r + 4, SIZE - r - 4)
        out.append((shape, color, x, y, r))
    return out


def render(items):
    img = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    d = ImageDraw.Draw(img)
    for shape, color, x, y, r in items:
        fill = COLORS[color]
        if shape == "circle":
            d.ellipse([x - r, y - r, x + r, y + r], fill=fill)
        elif shape == "square":
            d.rectangle([x - r, y - r, x + r, y + r], fill=fill)
        else:
            d.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=fill)
    return img


def caption(items):
    return " left of ".join(f"a {color} {shape}" for shape, color, *_ in items)


def questions(items, rng):
    """-> [(question, answer)]: one of each kind."""
    present = {shape: color for shape, color, *_ in items}
    shape, color = rng.choice([(s, c) for s, c, *_ in items])
    asked = rng.choice(SHAPES)
    return [(f"what color is the {shape}?", color),
            (f"what shape is {color}?", shape),
            ("how many shapes are there?", COUNTS[len(items)]),
            (f"is there a {asked}?", "yes" if asked in present else "no")]


def dataset(n, seed):
    rng = random.Random(seed)
    return [scene(rng) for _ in range(n)]


def caption_word_map():
    """The tutorial's WORDMAP layout: words from 1, then <unk>, <start>, <end>, and <pad> = 0."""
    words = ["a", "left", "of"] + list(COLORS) + list(SHAPES)
    m = {w: i + 1 for i, w in enumerate(words)}
    for special in ("<unk>", "<start>", "<end>"):
        m[special] = len(m) + 1
    m["<pad>"] = 0
    return m


def vqa_vocab():
    words = ["what", "color", "is", "the", "shape", "how", "many", "shapes", "are", "there", "a"]
    words += list(COLORS) + list(SHAPES)
    return {"question": {w: i + 1 for i, w in enumerate(words)}, "answer": {a: i for i, a in enumerate(ANSWERS)}}

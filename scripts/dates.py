"""The synthetic task of heed's bundled demo: human-written dates -> ISO dates.
Formats are unambiguous by construction (dots: day.month.year, slashes:
month/day/year), years 1900-2099."""
import calendar
import random

MONTHS = list(calendar.month_name)[1:]
ORD = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}


def ordinal(d):
    return f"{d}{ORD.get(d, 'th')}"


FORMATS = [
    lambda y, m, d: f"{ordinal(d)} of {MONTHS[m - 1]} {y}",
    lambda y, m, d: f"the {ordinal(d)} of {MONTHS[m - 1]}, {y}",
    lambda y, m, d: f"{MONTHS[m - 1]} {d}, {y}",
    lambda y, m, d: f"{MONTHS[m - 1]} {ordinal(d)} {y}",
    lambda y, m, d: f"{d} {MONTHS[m - 1]} {y}",
    lambda y, m, d: f"{d} {MONTHS[m - 1][:3]} {y}",
    lambda y, m, d: f"{MONTHS[m - 1][:3]}. {d}, {y}",
    lambda y, m, d: f"{d:02d}.{m:02d}.{y}",
    lambda y, m, d: f"{d}.{m}.{y}",
    lambda y, m, d: f"{m}/{d}/{y}",
    lambda y, m, d: f"{m:02d}/{d:02d}/{y}",
    lambda y, m, d: f"{y}-{m:02d}-{d:02d}",
    lambda y, m, d: f"{y}/{m:02d}/{d:02d}",
]


def sample(rng):
    y = rng.randint(1900, 2099)
    m = rng.randint(1, 12)
    d = rng.randint(1, calendar.monthrange(y, m)[1])
    text = rng.choice(FORMATS)(y, m, d)
    if rng.random() < 0.3:
        text = text.lower()
    return text, f"{y}-{m:02d}-{d:02d}"


def dataset(n, seed):
    rng = random.Random(seed)
    return [sample(rng) for _ in range(n)]

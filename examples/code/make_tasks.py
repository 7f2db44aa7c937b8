#!/usr/bin/env python3
"""Writes train.jsonl and eval.jsonl for examples/code: small functions to write, each with test
cases. Every template hides one of the simulator's pitfalls (an inclusive count, successive
percentage changes, minutes per hour, a round-trip average speed, a negative remainder), so the
task is learnable offline against `tfgrpo sim serve`; against a real model it is an ordinary
code-generation task. Usage: python3 make_tasks.py  (deterministic)"""
import json
import math
import random

TEMPLATES = [
    ("inclusive",
     "Write a Python function `{f}({a}, {b})` that returns how many {things} are numbered from {a} to {b}, "
     "inclusive. Assume {a} <= {b}.",
     [("count_seats", "first", "last", "seats"), ("pages_read", "start", "end", "pages"),
      ("tickets_used", "low", "high", "tickets"), ("rooms_booked", "first_room", "last_room", "rooms"),
      ("lockers_opened", "lo", "hi", "lockers"), ("stamps_issued", "begin", "finish", "stamps")]),
    ("percent",
     "Write a Python function `{f}({a}, {b}, {c})` that returns the price after {a} rises by {b} percent and "
     "then falls by {c} percent.",
     [("final_price", "price", "rise", "fall"), ("share_value", "value", "up", "down"),
      ("ticket_price", "cost", "increase", "decrease"), ("rent_after", "rent", "hike", "cut"),
      ("fare_after", "fare", "surge", "discount"), ("menu_price", "base", "markup", "markdown")]),
    ("minutes",
     "Write a Python function `{f}({a}, {b})` that converts a duration of {a} hours and {b} minutes into minutes.",
     [("to_minutes", "hours", "minutes"), ("shift_minutes", "h", "m"), ("flight_minutes", "hrs", "mins"),
      ("runtime_minutes", "whole_hours", "extra_minutes"), ("lesson_minutes", "hh", "mm"),
      ("parking_minutes", "num_hours", "num_minutes")]),
    ("speed",
     "Write a Python function `{f}({a}, {b})` that returns the average speed, in km/h, of a round trip that goes "
     "at {a} km/h and comes back along the same road at {b} km/h.",
     [("round_trip_speed", "out_speed", "back_speed"), ("average_speed", "v1", "v2"),
      ("commute_speed", "morning", "evening"), ("ferry_speed", "upstream", "downstream"),
      ("delivery_speed", "going", "returning"), ("trip_speed", "there", "back")]),
    ("remainder",
     "Write a Python function `{f}({a}, {b})` that returns the remainder of {a} divided by {b} as a whole "
     "number from 0 to {b} - 1, also when {a} is negative.",
     [("wrap_index", "index", "size"), ("clock_hour", "offset", "hours"), ("bucket_of", "key", "buckets"),
      ("ring_slot", "position", "slots"), ("weekday_of", "day", "week"), ("lane_for", "car", "lanes")]),
]

SOLUTIONS = {
    "inclusive": ("return {b} - {a} + 1", lambda a, b: b - a + 1),
    "percent": ("return {a} * (1 + {b} / 100) * (1 - {c} / 100)", lambda p, r, f: p * (1 + r / 100) * (1 - f / 100)),
    "minutes": ("return {a} * 60 + {b}", lambda h, m: h * 60 + m),
    "speed": ("return 2 * {a} * {b} / ({a} + {b})", lambda a, b: 2 * a * b / (a + b)),
    "remainder": ("return {a} % {b}", lambda v, n: v % n),
}


def test_args(kind, rng):
    if kind == "inclusive":
        a = rng.randint(1, 300)
        return [a, a + rng.randint(0, 400)]
    if kind == "percent":
        return [rng.randint(2, 90) * 10, rng.randint(1, 9) * 5, rng.randint(1, 9) * 5]
    if kind == "minutes":
        return [rng.randint(1, 12), rng.randint(0, 59)]
    if kind == "speed":
        a = rng.randint(10, 120)
        return [a, a + rng.randint(5, 60)]
    # Mostly negative values: that is where a remainder can go wrong.
    n = rng.randint(3, 24)
    return [-rng.randint(n + 1, 500), n]


def task(i, kind, template, names, rng):
    f, *params = names[:-1] if kind == "inclusive" else names
    fields = dict(zip("abc", params), f=f)
    if kind == "inclusive":
        fields["things"] = names[-1]
    body, fn = SOLUTIONS[kind]
    tests = []
    for _ in range(5):
        args = test_args(kind, rng)
        tests.append({"args": args, "expected": round(fn(*args), 9)})
    if kind == "remainder":
        tests[0]["args"] = [rng.randint(30, 90), tests[0]["args"][1]]
        tests[0]["expected"] = tests[0]["args"][0] % tests[0]["args"][1]
    reference = "def {f}({p}):\n    ".format(f=f, p=", ".join(params)) + body.format(**fields)
    return {"id": "code-%d" % i, "problem": template.format(**fields), "groundtruth": reference,
            "function": f, "tests": tests, "tolerance": 1e-6}


def main():
    rng = random.Random(7)
    rows = []
    for variant in range(6):
        for kind, template, variants in TEMPLATES:
            rows.append((kind, template, variants[variant]))
    tasks = [task(i, kind, template, names, rng) for i, (kind, template, names) in enumerate(rows)]
    with open("train.jsonl", "w") as out:
        for t in tasks[:15]:
            out.write(json.dumps(t) + "\n")
    with open("eval.jsonl", "w") as out:
        for t in tasks[15:]:
            out.write(json.dumps(t) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes train.jsonl and eval.jsonl for examples/classify: label a student's answer to a word
problem as correct or by the kind of slip it shows (off-by-one, unit-error, sign-error,
method-error). Half the students are right, half fell into the problem's trap. The problems are
the simulator's family (`tfgrpo sim tasks`), so the task is learnable offline against
`tfgrpo sim serve`. Usage: tfgrpo sim tasks --n 60 --seed 11 | python3 make_tasks.py"""
import json
import re
import sys

# The slip each trap leads to, and the student's answer after it.
LABELS = {"inclusive-range": "off-by-one", "percent-change": "method-error", "negative-subtraction": "sign-error",
          "hours-to-minutes": "unit-error", "average-speed": "method-error", "negative-remainder": "sign-error"}


def number(x):
    return str(int(x)) if float(x).is_integer() else ("%.6f" % x).rstrip("0").rstrip(".")


def wrong_answer(pitfall, problem):
    ints = [int(v) for v in re.findall(r"-?\d+", problem)]
    if pitfall == "inclusive-range":
        a, b = ints[:2]
        return number(abs(b - a))
    if pitfall == "percent-change":
        p, x, y = [int(v) for v in re.findall(r"\d+", problem)[:3]]
        return number(p * (100 + x - y) / 100)
    if pitfall == "negative-subtraction":
        m = re.search(r"(-?\d+) - \(-(\d+)\) - (\d+)", problem)
        a, b, c = int(m[1]), int(m[2]), int(m[3])
        return number(a - b - c)
    if pitfall == "hours-to-minutes":
        h, mins, d = ints[:3]
        return number((100 * h + mins) * d)
    if pitfall == "average-speed":
        a, b = [int(v) for v in re.findall(r"at (\d+) km/h", problem)[:2]]
        return number((a + b) / 2)
    m = re.search(r"remainder when -(\d+) is divided by (\d+)", problem)
    a, n = int(m[1]), int(m[2])
    r = a % n
    return number(-r if r else n)


PROMPT = ("A student answered this question:\n\n{problem}\n\nThe student's answer: {student}\n\n"
          "Classify the student's answer with one label: correct, off-by-one, unit-error, sign-error or "
          "method-error. Give the label on the last line as \"Label: <label>\".")


def main():
    rows = [json.loads(line) for line in sys.stdin if line.strip()]
    tasks = []
    for i, row in enumerate(rows):
        right = i % 2 == 0
        student = row["groundtruth"] if right else wrong_answer(row["pitfall"], row["problem"])
        tasks.append({"id": "label-%d" % i, "problem": PROMPT.format(problem=row["problem"], student=student),
                      "groundtruth": "correct" if right else LABELS[row["pitfall"]],
                      "student_answer": student, "right_answer": row["groundtruth"]})
    half = len(tasks) // 2
    with open("train.jsonl", "w") as out:
        for t in tasks[:half]:
            out.write(json.dumps(t) + "\n")
    with open("eval.jsonl", "w") as out:
        for t in tasks[half:]:
            out.write(json.dumps(t) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Turn a pulled DAPO-Math split into the 100-problem practice set (dapo100.jsonl).

DAPO-Math-17k wraps each problem in an instruction to end with a line "Answer: ...". Our
instructions ask for \\boxed{} instead, so the wrapper is removed where present; then a seeded
shuffle picks N problems. Standard library only.

    python3 make_dapo100.py dapo-en.jsonl dapo100.jsonl [--n 100] [--seed 42]
"""
import argparse
import json
import random
import sys

PREFIX = ("Solve the following math problem step by step. The last line of your response should be "
          "of the form Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n")
SUFFIX = '\n\nRemember to put your answer on its own line after "Answer:".'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="JSONL from `tfgrpo data pull` with fields problem, groundtruth")
    parser.add_argument("out", help="JSONL to write")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    rows, stripped = [], 0
    with open(args.source, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if "problem" not in row or "groundtruth" not in row:
                sys.exit(f"{args.source}:{number}: expected fields 'problem' and 'groundtruth' "
                         "(pull with --map problem=prompt,groundtruth=solution)")
            problem = row["problem"]
            if problem.startswith(PREFIX) or problem.endswith(SUFFIX):
                stripped += 1
            problem = problem[len(PREFIX):] if problem.startswith(PREFIX) else problem
            problem = problem[:-len(SUFFIX)] if problem.endswith(SUFFIX) else problem
            row["problem"] = problem.strip()
            rows.append(row)
    if len(rows) < args.n:
        sys.exit(f"{args.source}: only {len(rows)} problems, fewer than --n {args.n}")
    random.Random(args.seed).shuffle(rows)
    with open(args.out, "w", encoding="utf-8") as f:
        for row in rows[:args.n]:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{args.out}: {args.n} of {len(rows)} problems (answer-format wrapper removed from "
          f"{stripped} of {len(rows)})")


if __name__ == "__main__":
    main()

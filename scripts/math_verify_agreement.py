#!/usr/bin/env python3
"""Agreement of `tfgrpo reward math` with the expectations of Hugging Face Math-Verify's test suite.

Usage:
  MATH_VERIFY_DIR=/path/to/Math-Verify scripts/math_verify_agreement.py [--tfgrpo build/tfgrpo]
      [--bench build/bench_math_verify] [--repeat 20] [--show-misses] [--all-settings]

Reads Math-Verify's tests/*.py at run time (nothing of theirs is stored in this repository), finds
every parametrized table whose test calls `compare_strings(gold, pred, ...)` or
`verify(parse(gold), parse(pred))`, and keeps the rows run with the default settings (precision 6,
strict, no set/relation comparison) unless --all-settings is given (then other precisions are run
with `--precision N`; non-strict and set/relation rows are still skipped, we have no such modes).
Each (gold, prediction, expected) row is scored by `tfgrpo reward math --jsonl`; the script prints
agreement, false positives (we score 1, they expect 0), false negatives by test function, and the
throughput of the verifier on these pairs: `bench_math_verify --jsonl` scoring the suite --repeat
times in-process (one core), or, without that binary, the `tfgrpo reward math` run itself.
Without MATH_VERIFY_DIR it prints a note and exits 0 (CI has no network and no checkout).
"""

import argparse
import ast
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

DEFAULTS = {"precision": 6, "strict": True, "allow_set_relation_comp": False}


def literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None


def compare_strings_defaults(tree):
    """Keyword defaults of their compare_strings helper (read, not assumed)."""
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and fn.name == "compare_strings":
            args = fn.args.args[-len(fn.args.defaults):] if fn.args.defaults else []
            out = {}
            for a, d in zip(args, fn.args.defaults):
                v = literal(d)
                if v is not None:
                    out[a.arg] = v
            return out
    return None


def call_settings(fn, columns):
    """How the test body calls the verifier: ('compare', {kw: const or column name}) or ('verify', {})."""
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
        if name == "compare_strings":
            kws = {}
            for kw in node.keywords:
                if isinstance(kw.value, ast.Name) and kw.value.id in columns:
                    kws[kw.arg] = ("column", kw.value.id)
                else:
                    kws[kw.arg] = ("const", literal(kw.value))
            return "compare", kws
        if name == "verify" and node.args and isinstance(node.args[0], ast.Call):
            inner = node.args[0]
            inner_name = inner.func.id if isinstance(inner.func, ast.Name) else getattr(inner.func, "attr", None)
            if inner_name == "parse" and len(inner.args) == 1 and not node.keywords:
                return "verify", {}
    return None, None


def extract(mv_dir):
    """Yields dicts {file, test, gold, pred, expected, precision, strict, set_rel} and skip notes."""
    tests_dir = os.path.join(mv_dir, "tests")
    helper_defaults = {"precision": 6, "strict": True, "allow_set_relation_comp": False}
    all_py = sorted(f for f in os.listdir(tests_dir) if f.endswith(".py"))
    for fname in all_py:
        with open(os.path.join(tests_dir, fname), encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename=fname)
        found = compare_strings_defaults(tree)
        if found:
            helper_defaults.update({k: v for k, v in found.items() if k in helper_defaults})
    rows, skipped = [], collections.Counter()
    for fname in all_py:
        with open(os.path.join(tests_dir, fname), encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename=fname)
        for fn in tree.body:
            if not isinstance(fn, ast.FunctionDef):
                continue
            for dec in fn.decorator_list:
                if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", None) == "parametrize"):
                    continue
                if len(dec.args) < 2:
                    continue
                names = literal(dec.args[0])
                if not isinstance(names, str) or not isinstance(dec.args[1], (ast.List, ast.Tuple)):
                    continue
                columns = [n.strip() for n in names.split(",")]
                how, kws = call_settings(fn, columns)
                if how is None:
                    skipped[f"{fname}::{fn.name} (not a gold/prediction comparison)"] += len(dec.args[1].elts)
                    continue
                for elt in dec.args[1].elts:
                    values = literal(elt)
                    if not isinstance(values, tuple) or len(values) != len(columns):
                        skipped[f"{fname}::{fn.name} (row is not a literal)"] += 1
                        continue
                    row = dict(zip(columns, values))
                    settings = dict(helper_defaults)
                    for key, (kind, v) in kws.items():
                        if key in settings:
                            settings[key] = row[v] if kind == "column" else v
                    gold = row.get("gold")
                    pred = row.get("pred")
                    expected = row.get("expected", row.get("result"))
                    if not isinstance(gold, str) or not isinstance(pred, str) or expected is None:
                        skipped[f"{fname}::{fn.name} (no gold/pred/expected columns)"] += 1
                        continue
                    rows.append({
                        "file": fname, "test": fn.name, "gold": gold, "pred": pred,
                        "expected": int(bool(expected)), "precision": int(settings["precision"]),
                        "strict": bool(settings["strict"]),
                        "set_rel": bool(settings["allow_set_relation_comp"]),
                    })
    return rows, skipped


def write_jsonl(pairs):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps({"gold": p["gold"], "pred": p["pred"]}) + "\n")
        return f.name


def run_tfgrpo(binary, pairs, precision):
    path = write_jsonl(pairs)
    try:
        cmd = [binary, "--quiet", "reward", "math", "--jsonl", path]
        if precision != 6:
            cmd += ["--precision", str(precision)]
        start = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        wall = time.perf_counter() - start
    finally:
        os.unlink(path)
    results = [json.loads(line) for line in out.splitlines()]
    if len(results) != len(pairs):
        sys.exit(f"tfgrpo returned {len(results)} lines for {len(pairs)} pairs")
    return results, wall


def bench_throughput(binary, pairs, repeat):
    """The in-process figure from bench_math_verify --jsonl (its summary line), or None."""
    if not binary or not os.access(binary, os.X_OK):
        return None
    path = write_jsonl(pairs)
    try:
        out = subprocess.run([binary, "--jsonl", path, str(repeat)], check=True, capture_output=True, text=True)
    finally:
        os.unlink(path)
    return out.stdout.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tfgrpo", default=os.environ.get("TFGRPO_BIN", "build/tfgrpo"))
    ap.add_argument("--bench", default=os.environ.get("BENCH_MATH_VERIFY", "build/bench_math_verify"))
    ap.add_argument("--repeat", type=int, default=20, help="suite repetitions for the throughput figure")
    ap.add_argument("--show-misses", action="store_true", help="print every disagreement")
    ap.add_argument("--all-settings", action="store_true", help="also run rows with another precision")
    args = ap.parse_args()

    mv_dir = os.environ.get("MATH_VERIFY_DIR")
    if not mv_dir:
        print("math_verify_agreement: MATH_VERIFY_DIR is not set; skipped (point it at a Math-Verify checkout, "
              "e.g. git clone https://github.com/huggingface/Math-Verify && git -C Math-Verify checkout 0.8.0)")
        return 0
    if not os.path.isdir(os.path.join(mv_dir, "tests")):
        sys.exit(f"math_verify_agreement: {mv_dir}/tests is not a directory")

    rows, skipped = extract(mv_dir)
    runnable = []
    for r in rows:
        default = r["precision"] == DEFAULTS["precision"] and r["strict"] and not r["set_rel"]
        if default or (args.all_settings and r["strict"] and not r["set_rel"]):
            runnable.append(r)
        else:
            why = "non-strict" if not r["strict"] else "set/relation comparison" if r["set_rel"] else \
                f"precision {r['precision']}"
            skipped[f"{r['file']}::{r['test']} ({why})"] += 1

    by_precision = collections.defaultdict(list)
    for r in runnable:
        by_precision[r["precision"]].append(r)
    total_wall, total_pairs = 0.0, 0
    for precision, group in sorted(by_precision.items()):
        results, wall = run_tfgrpo(args.tfgrpo, group, precision)
        total_wall += wall
        total_pairs += len(group)
        for r, res in zip(group, results):
            r["score"] = 1 if res.get("score", 0) >= 0.5 else 0
            r["gold_parsed"], r["pred_parsed"] = res.get("gold_parsed", ""), res.get("pred_parsed", "")

    per_test = collections.OrderedDict()
    for r in runnable:
        c = per_test.setdefault(f"{r['file']}::{r['test']}", collections.Counter())
        c["pairs"] += 1
        c["agree"] += r["score"] == r["expected"]
        c["fp"] += r["score"] == 1 and r["expected"] == 0
        c["fn"] += r["score"] == 0 and r["expected"] == 1
    n = len(runnable)
    agree = sum(c["agree"] for c in per_test.values())
    fp = sum(c["fp"] for c in per_test.values())
    fn = sum(c["fn"] for c in per_test.values())
    print(f"Math-Verify test suite at {mv_dir}: {n} pairs run"
          f"{' (all precisions)' if args.all_settings else ' (default settings: precision 6, strict)'}")
    print(f"  agreement {agree}/{n} = {100.0 * agree / max(n, 1):.1f}%, false positives {fp}, false negatives {fn}")
    bench = bench_throughput(args.bench, [r for r in runnable if r["precision"] == 6], args.repeat)
    if bench:
        print(f"  throughput (default-precision pairs, in-process): {bench}")
    else:
        print(f"  throughput {total_pairs / max(total_wall, 1e-9):.0f} pairs/s on one core ({total_pairs} pairs "
              f"through tfgrpo reward math in {total_wall:.2f} s, process start included; build bench_math_verify "
              f"for the in-process figure)")
    print(f"  {'test':<58} {'pairs':>5} {'agree':>6} {'FP':>3} {'FN':>3}")
    for name, c in per_test.items():
        print(f"  {name:<58} {c['pairs']:>5} {c['agree']:>6} {c['fp']:>3} {c['fn']:>3}")
    if skipped:
        print("  skipped rows:")
        for why, count in sorted(skipped.items()):
            print(f"    {count:>3}  {why}")
    if args.show_misses:
        for r in runnable:
            if r["score"] != r["expected"]:
                kind = "FP" if r["score"] else "FN"
                short = lambda s: (s if len(s) <= 160 else s[:70] + " ... " + s[-80:]).replace("\n", "\\n")
                print(f"{kind} {r['test']}: gold {short(r['gold'])!r}\n     pred {short(r['pred'])!r}\n"
                      f"     understood gold {r['gold_parsed']!r} pred {r['pred_parsed']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

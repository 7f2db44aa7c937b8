"""Reward for examples/code: run the reply's function on the task's test cases.

verify(problem, answer, response, task) is called by tfgrpo's python reward workers (inside the
same sandbox as the python tool). `task` is the whole JSONL record, so the test cases, the
function's name and the tolerance come from it; `answer` (the reference solution) is not needed.
The reward is the fraction of tests passed; the reasoning names the first failures, and becomes
the grader's critique the learner sees when it summarises the attempt.
"""
import math
import re
import signal

FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.S)
PER_TEST_SECONDS = 1.0


class _TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise _TestTimeout()


def extract_code(response):
    blocks = FENCE.findall(response)
    return blocks[-1] if blocks else response


def verify(problem, answer, response, task):
    name = task["function"]
    namespace = {}
    try:
        exec(compile(extract_code(response), "<reply>", "exec"), namespace)
    except Exception as e:  # the reply's code is the model's, anything can happen
        return {"reward": 0.0, "reasoning": "the code does not run: %s: %s" % (type(e).__name__, e)}
    fn = namespace.get(name)
    if not callable(fn):
        return {"reward": 0.0, "reasoning": "the reply defines no function named %s" % name}

    tolerance = task.get("tolerance", 1e-9)
    passed, failures = 0, []
    signal.signal(signal.SIGALRM, _on_alarm)
    for case in task["tests"]:
        args, expected = case["args"], case["expected"]
        call = "%s(%s)" % (name, ", ".join(repr(a) for a in args))
        signal.setitimer(signal.ITIMER_REAL, PER_TEST_SECONDS)
        try:
            got = fn(*args)
        except _TestTimeout:
            failures.append("%s ran longer than %g s" % (call, PER_TEST_SECONDS))
            continue
        except Exception as e:
            failures.append("%s raised %s: %s" % (call, type(e).__name__, e))
            continue
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if isinstance(got, (int, float)) and not isinstance(got, bool) and \
                math.isclose(got, expected, rel_tol=tolerance, abs_tol=tolerance):
            passed += 1
        else:
            failures.append("%s returned %r, expected %r" % (call, got, expected))

    total = len(task["tests"])
    if not failures:
        return {"reward": 1.0, "reasoning": "all %d tests pass" % total}
    return {"reward": passed / total,
            "reasoning": "%d of %d tests pass; %s" % (passed, total, "; ".join(failures[:3]))}

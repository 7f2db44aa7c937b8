"""Confusion-aware reward for examples/classify.

An exact label scores 1. Spotting that the student slipped but naming the wrong kind of slip
scores 0.5 (the costly mistakes are the other two: accepting a wrong answer, or flagging a right
one). The reasoning says which confusion happened, with the numbers from the task record, and
reaches the learner as the grader's critique.
"""
import re

LABELS = ("correct", "off-by-one", "unit-error", "sign-error", "method-error")
LABEL_LINE = re.compile(r"label\s*:\s*[`*\"']*([a-z-]+)", re.I)


def verify(problem, answer, response, task):
    found = LABEL_LINE.findall(response)
    if not found:
        return {"reward": 0.0, "reasoning": "no 'Label: <label>' line in the reply"}
    predicted, gold = found[-1].lower(), answer.strip().lower()
    student, right = task.get("student_answer"), task.get("right_answer")
    if predicted not in LABELS:
        return {"reward": 0.0, "reasoning": "%r is not one of the labels %s" % (predicted, ", ".join(LABELS))}
    if predicted == gold:
        return {"reward": 1.0, "reasoning": "right label (%s)" % gold}
    if predicted != "correct" and gold != "correct":
        return {"reward": 0.5, "reasoning": "saw that %s is wrong (the right answer is %s) but called the slip %s; "
                                            "it is %s" % (student, right, predicted, gold)}
    if gold == "correct":
        return {"reward": 0.0, "reasoning": "flagged a right answer as %s: %s is correct" % (predicted, student)}
    return {"reward": 0.0, "reasoning": "accepted a wrong answer: the student gave %s, the right answer is %s (%s)"
                                        % (student, right, gold)}

#!/usr/bin/env python3
"""A small math agent over plain HTTP (urllib, no SDK): the whole contract in one file.

It reads what every OpenAI client reads, OPENAI_BASE_URL and OPENAI_API_KEY (under tfgrpo: the
gateway and this rollout's token; in production: the provider or `tfgrpo serve`), and the
problem from TFGRPO_PROBLEM, else from the task's JSON line on stdin. It runs a chat-completions
tool loop and answers in TFGRPO_ANSWER_FILE when tfgrpo gave one, else on standard output.
"""
import json
import os
import re
import sys
import urllib.request

SYSTEM = ("You are a careful math assistant. Use the tools when they help. "
          "End with the final answer in \\boxed{}.")
TOOLS = [{"type": "function", "function": {
    "name": "find_numbers",
    "description": "Lists the numbers that occur in a text, in order, signs included.",
    "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}}]


def find_numbers(text):
    return json.dumps(re.findall(r"-?\d+(?:\.\d+)?", str(text)))


def chat(messages):
    base = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
    body = json.dumps({"model": "gpt-4.1-mini", "messages": messages, "tools": TOOLS}).encode()
    request = urllib.request.Request(base + "/chat/completions", data=body, headers={
        "Content-Type": "application/json", "Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.load(response)["choices"][0]["message"]


def solve(problem):
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": problem}]
    for _ in range(8):
        reply = chat(messages)
        messages.append({k: reply[k] for k in ("role", "content", "tool_calls") if k in reply})
        if not reply.get("tool_calls"):
            return reply.get("content") or ""
        for call in reply["tool_calls"]:
            args = json.loads(call["function"]["arguments"] or "{}")
            output = find_numbers(args.get("text", "")) if call["function"]["name"] == "find_numbers" \
                else "Error: no tool " + call["function"]["name"]
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": output})
    raise RuntimeError("no answer after 8 turns")


def main():
    problem = os.environ.get("TFGRPO_PROBLEM") or json.loads(sys.stdin.readline())["problem"]
    answer = solve(problem)
    answer_file = os.environ.get("TFGRPO_ANSWER_FILE")
    if answer_file:  # tfgrpo scores "answer"; an optional "reward" in [0, 1] would replace its reward
        with open(answer_file, "w", encoding="utf-8") as out:
            json.dump({"answer": answer, "reasoning": "one find_numbers call, then the model's answer"}, out)
    else:
        print(answer)


if __name__ == "__main__":
    main()

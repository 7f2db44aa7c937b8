#!/usr/bin/env python3
"""A deliberately misbehaving MCP server over stdio, for tests/mcp.

Speaks enough MCP (initialize, tools/list with pagination, tools/call) and misbehaves on demand:
garbage lines, a crash mid-call, slow replies, isError results, JSON-RPC errors, server requests
to the client. Each tools/call runs on its own thread, so replies can come back out of order.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("--label", default="fake")
parser.add_argument("--tools", default="echo,slow,crash,fail,rpc_error,chatty,image,env,pid,info,spew,leak,envdump,"
                    "spawn,flood")
parser.add_argument("--extra-tools", type=int, default=0, help="add tool_0..tool_N-1")
parser.add_argument("--page-size", type=int, default=0, help="tools/list page size (0: one page)")
parser.add_argument("--protocol", default="", help="answer initialize with this version")
parser.add_argument("--garbage-at-start", action="store_true")
parser.add_argument("--exit-at-start", action="store_true")
parser.add_argument("--ignore-term", action="store_true", help="ignore SIGTERM and stdin EOF")
parser.add_argument("--schema-bytes", type=int, default=0, help="tools/list: one tool whose schema is this large")
parser.add_argument("--schema-depth", type=int, default=0, help="tools/list: one tool whose schema nests this deep")
args = parser.parse_args()

if args.exit_at_start:
    sys.stderr.write("fake server: refusing to start (--exit-at-start)\n")
    sys.stderr.flush()
    sys.exit(4)
if args.ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

out_lock = threading.Lock()
state_lock = threading.Lock()
state = {"init": None, "initialized": False, "cancelled": [], "client_answers": {}}
next_server_id = [1000]


def send(message):
    with out_lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def raw(line):
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def text_result(text, is_error=False):
    result = {"content": [{"type": "text", "text": text}]}
    if is_error:
        result["isError"] = True
    return result


TOOL_SCHEMAS = {
    "echo": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    "slow": {"type": "object", "properties": {"seconds": {"type": "number"}, "text": {"type": "string"}}},
}


def tool_list():
    names = [n for n in args.tools.split(",") if n]
    names += ["tool_%d" % i for i in range(args.extra_tools)]
    tools = [{"name": n, "description": "%s tool of %s" % (n, args.label),
              "inputSchema": TOOL_SCHEMAS.get(n, {"type": "object", "properties": {}})} for n in names]
    if args.schema_bytes:
        tools.append({"name": "huge", "inputSchema": {"type": "object", "description": "x" * args.schema_bytes}})
    if args.schema_depth:
        schema = {"type": "string"}  # one JSON level per level of nesting
        for _ in range(args.schema_depth - 1):
            schema = {"type": "array", "items": schema}
        tools.append({"name": "deep", "inputSchema": schema})
    return tools


def call_tool(request_id, name, arguments):
    if name == "echo" or name.startswith("tool_"):
        send({"jsonrpc": "2.0", "id": request_id,
              "result": text_result("%s %s: %s" % (args.label, name, arguments.get("text", "")))})
    elif name == "slow":
        time.sleep(float(arguments.get("seconds", 1)))
        send({"jsonrpc": "2.0", "id": request_id,
              "result": text_result("slow done: %s" % arguments.get("text", ""))})
    elif name == "crash":
        sys.stderr.write("fake server: crashing on purpose\n")
        sys.stderr.flush()
        os._exit(3)
    elif name == "fail":
        send({"jsonrpc": "2.0", "id": request_id, "result": text_result("the tool failed on purpose", True)})
    elif name == "rpc_error":
        send({"jsonrpc": "2.0", "id": request_id,
              "error": {"code": -32000, "message": "deliberate failure", "data": "extra detail"}})
    elif name == "chatty":
        # Everything a client must survive before the reply it waits for.
        raw("this is not json")
        raw("{\"half\": ")
        raw("[1, 2, 3]")
        raw("")
        send({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "hi"}})
        send({"jsonrpc": "2.0", "id": 99999, "result": {}})  # a response to nothing we sent
        for method in ("ping", "sampling/createMessage"):
            with state_lock:
                sid = next_server_id[0]
                next_server_id[0] += 1
                state["client_answers"][str(sid)] = {"method": method}
            send({"jsonrpc": "2.0", "id": sid, "method": method, "params": {}})
        time.sleep(0.2)  # let the client answer
        with state_lock:
            answers = dict(state["client_answers"])
        send({"jsonrpc": "2.0", "id": request_id, "result": text_result(json.dumps(answers, sort_keys=True))})
    elif name == "image":
        send({"jsonrpc": "2.0", "id": request_id, "result": {"content": [
            {"type": "text", "text": "a picture:"},
            {"type": "image", "mimeType": "image/png", "data": "AAAAAAAA"}]}})
    elif name == "env":
        send({"jsonrpc": "2.0", "id": request_id,
              "result": text_result(os.environ.get(arguments.get("name", ""), "<unset>"))})
    elif name == "spew":
        # Far more than a pipe holds: a client that does not drain stderr leaves us blocked here.
        for i in range(1024):
            sys.stderr.write("spew line %04d %s\n" % (i, "e" * 1000))
        sys.stderr.write("spew done\n")
        sys.stderr.flush()
        send({"jsonrpc": "2.0", "id": request_id, "result": text_result("spewed")})
    elif name == "leak":
        # What a careless server does: print the key it inherited, then die.
        sys.stderr.write("fatal: cannot use key %s\n" % os.environ.get(arguments.get("name", "TFGRPO_API_KEY"), ""))
        sys.stderr.flush()
        os._exit(5)
    elif name == "envdump":
        send({"jsonrpc": "2.0", "id": request_id, "result": text_result(json.dumps(dict(os.environ)))})
    elif name == "spawn":
        # A child in our process group that would outlive us.
        import subprocess
        child = subprocess.Popen(["sleep", "300"])
        send({"jsonrpc": "2.0", "id": request_id, "result": text_result(str(child.pid))})
    elif name == "pid":
        send({"jsonrpc": "2.0", "id": request_id, "result": text_result(str(os.getpid()))})
    elif name == "info":
        with state_lock:
            info = {"init": state["init"], "initialized": state["initialized"], "cancelled": state["cancelled"]}
        send({"jsonrpc": "2.0", "id": request_id, "result": text_result(json.dumps(info))})
    else:
        send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32602, "message": "unknown tool " + name}})


def handle(message):
    method = message.get("method")
    request_id = message.get("id")
    if method is None:  # a response to one of our requests
        with state_lock:
            key = str(request_id)
            if key in state["client_answers"]:
                state["client_answers"][key]["answer"] = {k: v for k, v in message.items() if k in ("result", "error")}
        return
    if method == "initialize":
        with state_lock:
            state["init"] = message.get("params")
        version = args.protocol or message["params"]["protocolVersion"]
        send({"jsonrpc": "2.0", "id": request_id, "result": {
            "protocolVersion": version, "capabilities": {"tools": {}},
            "serverInfo": {"name": "fake-" + args.label, "version": "1"}}})
    elif method == "notifications/initialized":
        with state_lock:
            state["initialized"] = True
    elif method == "notifications/cancelled":
        with state_lock:
            state["cancelled"].append(message.get("params", {}).get("requestId"))
    elif method == "tools/list":
        tools = tool_list()
        cursor = int((message.get("params") or {}).get("cursor") or 0)
        size = args.page_size or len(tools)
        result = {"tools": tools[cursor:cursor + size]}
        if cursor + size < len(tools):
            result["nextCursor"] = str(cursor + size)
        send({"jsonrpc": "2.0", "id": request_id, "result": result})
    elif method == "tools/call" and (message.get("params") or {}).get("name") == "flood":
        # On the thread that reads stdin: while we flood, nobody reads the client's answers, so a
        # client that writes them on its reader thread stops reading our stdout.
        count = int(((message.get("params") or {}).get("arguments") or {}).get("count", 5000))
        for i in range(count):
            send({"jsonrpc": "2.0", "id": 50000 + i, "method": "ping"})
        send({"jsonrpc": "2.0", "id": request_id, "result": text_result("flooded %d" % count)})
    elif method == "tools/call":
        params = message.get("params") or {}
        threading.Thread(target=call_tool, args=(request_id, params.get("name"), params.get("arguments") or {}),
                         daemon=True).start()
    elif request_id is not None:
        send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": "no " + method}})


def main():
    if args.garbage_at_start:
        raw("fake server starting up (not JSON)")
        raw("\x00\x01 binary noise")
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        handle(json.loads(line))
    if args.ignore_term:
        while True:
            time.sleep(1)


main()

"""Bare-loop stdio baseline: newline-delimited JSON-RPC answered by a blocking read loop.

No event loop, no threads: read a line, json.loads, build the reply dict, json.dumps,
write, flush. That is the practical limit for a Python stdio server here: every MCP
framework does at least this much per message (most also run an event loop, which
costs more per message than the blocking loop).
"""

from __future__ import annotations

import sys

from _bare import Answerer
from _common import server_args


def main() -> None:
    args = server_args(__doc__)
    answerer = Answerer(args.tools)
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    answer = answerer.answer_bytes
    for line in iter(stdin.readline, b""):
        if not line.strip():
            continue
        reply = answer(line)
        if reply is not None:
            stdout.write(reply + b"\n")
            stdout.flush()


if __name__ == "__main__":
    main()

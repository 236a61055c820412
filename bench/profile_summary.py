"""Where a server's CPU went, from `py-spy record --native --format raw` output.

Each raw line is `frame;frame;...;leaf N`, a frame being `function (path:line)`. Native
mode sees into C (ONNX Runtime, soxr, zlib, the uvloop event loop) but counts threads
that wait as busy, so samples whose leaf is a wait (epoll, a lock or queue, the GIL)
are set aside first. The rest is attributed to the innermost Python file (the work a
Python line asked for, C included), or to the native library when it is one of the
known heavy ones. Printed: self time per file or library, and the functions with the
most inclusive time.

    python bench/profile_summary.py .bench/profile-parley-10.txt
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*?) \((?P<path>.*?)(?::\d+)?\)$")
WAITS = re.compile(r"epoll_p?wait|pthread_cond_(timed)?wait|sem_(timed)?wait|futex|nanosleep|__select|\bpoll\b")
LOCK_WAITS = ("PyThread_acquire_lock_timed", "_queue_SimpleQueue_get", "take_gil")
LIBRARIES = {"onnxruntime": "onnxruntime (Silero VAD)", "soxr": "soxr (resampling)", "libz": "zlib (permessage-deflate)"}


def parse(text: str) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in text.splitlines():
        body, _, count = line.rpartition(" ")
        if not body or not count.isdigit():
            continue
        frames = []
        for frame in body.split(";"):
            match = FRAME.match(frame.strip())
            frames.append((match["function"], match["path"]) if match else (frame.strip(), ""))
        stacks.append((frames, int(count)))
    return stacks


def waiting(frames: list[tuple[str, str]]) -> bool:
    function, path = frames[-1]
    if WAITS.search(function):
        return True
    native_leaf = not path.endswith(".py")
    return native_leaf and any(f in LOCK_WAITS for f, _ in frames) and not any("onnxruntime" in p for _, p in frames)


def owner(frames: list[tuple[str, str]]) -> str:
    """The heavy native library the sample is in, else the innermost Python file."""
    for name, label in LIBRARIES.items():
        if any(name in path for _, path in frames[-6:]):
            return label
    python = [path for _, path in frames if path.endswith(".py")]
    return python[-1] if python else frames[-1][1] or frames[-1][0]


def summarize(text: str, top: int = 15) -> str:
    stacks = parse(text)
    busy = [(frames, n) for frames, n in stacks if not waiting(frames)]
    total = sum(n for _, n in busy) or 1
    idle = sum(n for _, n in stacks) - sum(n for _, n in busy)
    owners: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in busy:
        owners[owner(frames)] += count
        for name in {f"{f} ({p})" for f, p in frames if p.endswith(".py")}:
            inclusive[name] += count
    lines = [f"{total} busy samples ({idle} waiting, set aside)", "", "| self time in | share |", "|---|---|"]
    lines += [f"| {name} | {100 * n / total:.1f}% |" for name, n in owners.most_common(top)]
    lines += ["", "| function (inclusive) | share |", "|---|---|"]
    lines += [f"| {name} | {100 * n / total:.1f}% |" for name, n in inclusive.most_common(top + 10)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1]).read_text()))

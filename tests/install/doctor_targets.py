"""Checks for the doctor's own tests: one that passes, one that raises, one that kills its process."""

import os
import signal


def fine() -> str:
    return "all good"


def broken() -> str:
    raise RuntimeError("the model file is truncated")


def crashing() -> str:
    os.kill(os.getpid(), signal.SIGSEGV)  # what a native library built for another CPU does
    return "unreachable"

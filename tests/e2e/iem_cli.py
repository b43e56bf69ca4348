"""The `iem` command line as a subprocess, the way a user runs it."""

from __future__ import annotations

import subprocess
import sys

IEM = [sys.executable, "-m", "orchestration.cli"]


def run_iem(args: list[str], env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([*IEM, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        print(proc.stdout[-5000:], proc.stderr[-10000:], sep="\n---\n")
    return proc

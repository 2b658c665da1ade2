"""Running the real console script with stderr on a pseudo-terminal of a given width."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
import threading
from collections.abc import Mapping, Sequence

from .conftest import FLUX_FLEX

__all__ = ["ANSI", "read_terminal", "run_on_terminal", "screen_lines"]

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-B]")


def read_terminal(leader: int, into: list[bytes]) -> None:
    """Drain a pty's leader side until its follower is closed (EIO) or EOF."""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            return
        if not chunk:
            return
        into.append(chunk)


def run_on_terminal(
    args: Sequence[str], env: Mapping[str, str], columns: int = 120
) -> tuple[int, str, str]:
    """Run ``flux-flex ARGS`` with stderr on a real terminal of ``columns`` columns (the
    window size set on the pty, and ``COLUMNS``); stdout is a pipe. Returns the exit code,
    stdout, and everything drawn on the terminal."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    chunks: list[bytes] = []
    reader = threading.Thread(target=read_terminal, args=(leader, chunks), daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            [FLUX_FLEX, *args],
            env={**env, "COLUMNS": str(columns), "TERM": "xterm"},
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    return done.returncode, done.stdout, b"".join(chunks).decode("utf-8", "replace")


def screen_lines(screen: str) -> list[str]:
    """What was drawn, as the lines a person saw (control sequences removed)."""
    return [ANSI.sub("", line) for line in re.split(r"[\r\n]", screen)]

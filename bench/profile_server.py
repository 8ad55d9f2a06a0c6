"""`ferry serve ...` under cProfile, switched on by SIGUSR1 and off (and saved) by SIGUSR2.

The harness switches the profiler on after start-up and the warm-up, and off before shutdown,
so the profile holds only requests being served.

    python -m bench.profile_server OUT.prof serve raw_asgi:app --port 8000 ...
"""

from __future__ import annotations

import cProfile
import os
import signal
import sys
from types import FrameType

from ferry.server.cli import main as ferry_main


def main(argv: list[str]) -> int:
    output, ferry_argv = argv[0], argv[1:]
    profiler = cProfile.Profile()

    def start(signum: int, frame: FrameType | None) -> None:
        profiler.enable()

    def stop(signum: int, frame: FrameType | None) -> None:
        profiler.disable()
        # Written whole, then renamed: the harness waits for the file to appear.
        profiler.dump_stats(output + ".part")
        os.replace(output + ".part", output)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    return ferry_main(ferry_argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

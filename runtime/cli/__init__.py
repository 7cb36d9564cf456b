"""The `edge-talker` command: thin sub-commands over the library.

Every user-facing failure is a RuntimeFault, printed as `error[code]: message` plus a hint and
turned into the fault's exit code; a traceback means a bug.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from runtime.cli.parser import build_parser
from runtime.core.errors import RuntimeFault


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives every thread its own heap arena; with a dozen actor and model threads that
    costs hundreds of MB of RSS for nothing. Two arenas (as MALLOC_ARENA_MAX=2) are enough."""
    import ctypes
    import ctypes.util
    import os

    name = ctypes.util.find_library("c")
    if name and "MALLOC_ARENA_MAX" not in os.environ:
        try:
            ctypes.CDLL(name).mallopt(-8, arenas)  # -8 = M_ARENA_MAX
        except (OSError, AttributeError):  # not glibc: nothing to tune
            return


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    _limit_malloc_arenas()
    args = build_parser().parse_args(argv)
    if args.command in ("run", "avatar", "voice"):
        import os

        os.umask(0o077)  # state (avatars, recordings) shows visitors and faces: this user's only
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format=_log_format(), stream=sys.stderr)
    return guarded(lambda: args.func(args))


def guarded(func) -> int:
    """Run a command; a RuntimeFault becomes its rendered message and exit code, never a traceback."""
    try:
        code = func()
        sys.stdout.flush()  # a reader that went away shows up here, not as noise at exit
        return code
    except RuntimeFault as fault:
        print(fault.as_text(), file=sys.stderr)
        return fault.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `edge-talker models list | head -1`: the reader has what it wanted. Stop quietly, as
        # Unix tools do (128 + SIGPIPE), and keep the interpreter from flushing into the pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _log_format() -> str:
    import os

    # journald stamps every line itself; elsewhere a timestamp helps.
    if os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"):
        return "%(levelname)s %(name)s: %(message)s"
    return "%(asctime)s %(levelname)s %(name)s: %(message)s"


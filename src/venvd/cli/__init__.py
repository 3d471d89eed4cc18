"""The `venvd` command line. Heavy imports live inside the commands, so `venvd --help` starts fast.

Exit codes: 0 ok, 1 no resolution / build failed (explanation on stderr), 2 bad input (one readable line),
3 upstream or server failure.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> object:
    """Run the command in `argv` (default: the process's arguments). `venvd resolve -r FILE
    --server URL` takes a quick path without click when it can (`_quick`); everything else, and
    whatever the quick path hands back, runs through the click group (`_main`)."""
    # httpx imports its own command line (click, rich, pygments: ~195 million instructions, a
    # third of importing httpx) whenever those are installed, as they are with venvd, which never
    # runs it: in venvd's own process, an absent module makes httpx define a stub instead.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from venvd.cli._quick import answer

    try:
        if answer(sys.argv[1:] if argv is None else list(argv)):
            return None
    except KeyboardInterrupt:
        sys.stderr.write("venvd: interrupted\n")
        sys.exit(130)
    except Exception as exc:  # the server's error after its work: reported as the full command does
        from venvd.errors import VenvdError

        if not isinstance(exc, VenvdError):
            raise
        from venvd.cli._report import report_error

        report_error(exc)
        sys.exit(exc.exit_code)
    from venvd.cli._main import main as run

    return run(argv)

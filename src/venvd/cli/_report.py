"""How the CLI reports a VenvdError: one line, then the explanation it carries (a resolution's
causes, a build log's tail). Without click, so that the quick path (`_quick`) reports the
server's error exactly as the full command does without loading it."""

from __future__ import annotations

import sys

from venvd.errors import ResolutionImpossible, VenvdError

__all__ = ["report_error"]


def report_error(exc: VenvdError) -> None:
    lines = [f"venvd: error: {exc.message}"]
    if isinstance(exc, ResolutionImpossible):
        lines += [f"  - {cause}" for cause in exc.causes or ()]
    log_tail = exc.details.get("log_tail")
    if log_tail:
        lines.append("  build log (tail):")
        lines += [f"    {line}" for line in str(log_tail).splitlines()[-20:]]
    sys.stderr.write("".join(f"{line}\n" for line in lines))
    sys.stderr.flush()

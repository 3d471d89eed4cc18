"""What an installed distribution says about its licence, from its core metadata.

The store keeps only what resolution needs of each file's metadata (Requires-Dist,
Requires-Python, Provides-Extra), so licences come from the built environment itself: each
installed distribution's ``.dist-info/METADATA`` in the environment's archive (a tar stream in zstd
frames, manifest first: the format `venvd.builder` documents). `archive_metadata` reads just those
members; `licence_of` reads one METADATA the way PEP 639 orders the fields: License-Expression
first, then the deprecated ``License ::`` classifiers, then the free-text License field.
"""

from __future__ import annotations

import dataclasses
import tarfile
from collections.abc import Iterable
from pathlib import Path

from packaging.metadata import parse_email

__all__ = ["Licence", "archive_metadata", "licence_of", "metadata_members"]

# A real METADATA, long description included, is far below this; more is not read.
_MAX_METADATA = 16 * 1024 * 1024
# The zstd window a venvd archive may need (the client's own bound, ArchiveLimits.max_window).
_MAX_WINDOW = 32 * 1024 * 1024

# The common "License :: OSI Approved :: ..." classifiers and their SPDX identifiers (the
# classifiers say less than an expression: "BSD License" names no clause count, so it stays a name).
_CLASSIFIER_SPDX = {
    "Apache Software License": "Apache-2.0",
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "ISC License (ISCL)": "ISC",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "Zope Public License": "ZPL-2.1",
    "zlib/libpng License": "Zlib",
    "Universal Permissive License (UPL)": "UPL-1.0",
    "Historical Permission Notice and Disclaimer (HPND)": "HPND",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
}

# Classifiers that group others rather than name a licence.
_NOT_A_LICENCE = frozenset({"OSI Approved", "Other/Proprietary License", "DFSG approved"})


@dataclasses.dataclass(frozen=True)
class Licence:
    """A distribution's declared licence. `expression` is a PEP 639 License-Expression (SPDX);
    else `ids` (SPDX identifiers) and `names` (free names) from the classifiers; else `text`, the
    License field (sometimes a name, sometimes the whole licence text)."""

    expression: str | None = None
    ids: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    text: str | None = None

    @property
    def known(self) -> bool:
        return bool(self.expression or self.ids or self.names or self.text)


def licence_of(metadata: bytes | str) -> Licence:
    """The licence that METADATA (or PKG-INFO) declares; an empty Licence when it declares none."""
    raw, _unparsed = parse_email(metadata)
    expression = (raw.get("license_expression") or "").strip() or None
    if expression:
        return Licence(expression=expression)
    ids: list[str] = []
    names: list[str] = []
    for classifier in raw.get("classifiers", []):
        parts = [part.strip() for part in classifier.split("::")]
        if parts[0] != "License" or len(parts) < 2 or parts[-1] in _NOT_A_LICENCE:
            continue
        spdx = _CLASSIFIER_SPDX.get(parts[-1])
        if spdx is not None and spdx not in ids:
            ids.append(spdx)
        elif spdx is None and parts[-1] not in names:
            names.append(parts[-1])
    if ids or names:
        return Licence(ids=tuple(ids), names=tuple(names))
    text = (raw.get("license") or "").strip()
    if not text or text.upper() in ("UNKNOWN", "NONE"):
        return Licence()
    return Licence(text=text)


def metadata_members(site_packages: str, files: Iterable[str]) -> list[str]:
    """Of an installed distribution's archive members `files`, its top-level METADATA."""
    prefix = site_packages.rstrip("/") + "/"
    return [f for f in files if f.startswith(prefix) and f.endswith(".dist-info/METADATA")
            and f[len(prefix):].count("/") == 1]


def archive_metadata(archive: Path, members: Iterable[str]) -> dict[str, bytes]:
    """The bytes of `members` (archive paths of METADATA files) read from a venvd archive in one
    pass over its stream; members missing from the archive are missing from the answer.

    Raises OSError, tarfile.TarError or zstandard.ZstdError for an unreadable archive."""
    import zstandard

    wanted = set(members)
    found: dict[str, bytes] = {}
    with archive.open("rb") as raw:
        reader = zstandard.ZstdDecompressor(max_window_size=_MAX_WINDOW).stream_reader(
            raw, read_across_frames=True)
        with tarfile.open(fileobj=reader, mode="r|") as tf:
            for member in tf:
                if member.name not in wanted or not member.isfile() or member.size > _MAX_METADATA:
                    continue
                handle = tf.extractfile(member)
                if handle is not None:
                    found[member.name] = handle.read()
                if len(found) == len(wanted):
                    break  # the rest of the stream holds nothing asked for
    return found

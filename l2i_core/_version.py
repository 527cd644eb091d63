"""The package version, in a leaf module so that any module can record it without importing the package.

``__version__`` is the release (``pyproject.toml``'s); :func:`full_version` adds the commit a source checkout
is at (``0.1.0+g1a2b3c4d5e6f``, ``.dirty`` when ``l2i_core/`` has uncommitted changes), which is what
``l2i --version`` prints and every ``results.json`` records, with :func:`dependency_versions`.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

__version__ = "0.1.0"

_CHECKOUT = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def full_version() -> str:
    """``__version__``, plus ``+g<commit>`` (and ``.dirty``) when this package is a git checkout's."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(_CHECKOUT), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        if git("rev-parse", "--show-toplevel") != str(_CHECKOUT):
            return __version__  # installed elsewhere, inside some other repository
        sha = git("rev-parse", "--short=12", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "l2i_core"))
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{sha}{'.dirty' if dirty else ''}"


def dependency_versions() -> dict[str, str | None]:
    """The installed version of every dependency ``pyproject.toml`` declares (None: not installed), and Python's."""
    import platform
    import re
    from importlib import metadata

    try:
        required = metadata.requires("l2i") or []
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        required = []
    out: dict[str, str | None] = {"python": platform.python_version()}
    for req in required:
        if "extra ==" in req:
            continue
        name = re.split(r"[ ;<>=!~\[]", req, maxsplit=1)[0]
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out

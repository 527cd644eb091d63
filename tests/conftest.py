"""Shared fixtures.

``data_root`` is the folder of real audio (``$L2I_DATA``). When it is missing, tests that need it are
skipped on a developer machine but **fail** under CI (``CI=true``), so a broken data mount can never
turn a CI run green by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a unit test over ~10 s on the 2-core CPU; `make test-fast` leaves it out")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say, in the final summary, when the browser tests did not run and how to run them."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "browser" in getattr(r, "keywords", {})]
    if not skipped:
        return
    reason = skipped[0].longrepr[2] if isinstance(skipped[0].longrepr, tuple) else str(skipped[0].longrepr)
    terminalreporter.write_sep("=", "browser tests did not run", yellow=True, bold=True)
    terminalreporter.write_line(f"{len(skipped)} browser test(s) skipped: {reason.removeprefix('Skipped: ')}")
    fix = ("install Debian's Chromium (`sudo apt-get install -y chromium`; Playwright never downloads one), then"
           if "hromium" in reason else "fix the reason above, then")
    terminalreporter.write_line(f"To run them: {fix} `python -m pytest -m browser`. "
                                "`.ci/run` installs Chromium and fails without it.")


def _require(path: Path, what: str) -> Path:
    if path.exists():
        return path
    msg = f"{what} not found at {path}; set L2I_DATA to the folder holding the shared audio"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {msg}")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """``$L2I_DATA`` as a Path (fails under CI, skips elsewhere, when missing)."""
    env = os.environ.get("L2I_DATA")
    if not env:
        msg = "L2I_DATA is not set; point it to the folder holding esc10/, urbanmix/, ... (see the README's Data section)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {msg}")
        pytest.skip(msg)
    return _require(Path(env), "L2I_DATA")


@pytest.fixture(scope="session")
def esc10_root(data_root) -> Path:
    return _require(data_root / "esc10", "ESC-10")


@pytest.fixture(scope="session")
def esc50_fold4_root(data_root) -> Path:
    return _require(data_root / "esc50_fold4", "ESC-50 fold 4")


@pytest.fixture(scope="session")
def fsdd_root(data_root) -> Path:
    return _require(data_root / "fsdd", "FSDD")


@pytest.fixture(scope="session")
def sonyc_labels_csv(data_root) -> Path:
    return _require(data_root / "sonyc_ust_labels" / "tag_annotations.csv", "SONYC-UST label matrix")


@pytest.fixture()
def isolated_env(tmp_path, monkeypatch):
    """No L2I_DATA, and an empty private cache: nothing can be found unless a test puts it there."""
    monkeypatch.delenv("L2I_DATA", raising=False)
    monkeypatch.setenv("L2I_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture(scope="session")
def quick_pipeline(data_root, tmp_path_factory) -> Path:
    """``l2i reproduce --dataset esc10 --quick``: every notebook on tiny data, run once per session.

    Returns the working folder: ``reports/`` (HTML, executed notebooks, results.json, index.html) and
    ``artifacts/esc10-cpu-quick/``.
    """
    from l2i_core.pipeline.notebooks import reproduce

    work = tmp_path_factory.mktemp("quick_pipeline")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)  # the quick artifacts go here, not into the repository
        mp.setenv("L2I_PROJECT", str(work))  # the project folder of the defaults (artifacts/, reports/)
        results = reproduce("esc10", quick=True, reports_dir=work / "reports")
    print(f"quick pipeline: {len(results['steps'])} notebooks in {results['total_seconds']:.0f} s")
    return work

"""Packaging invariants: pyproject and environment.yml agree, no torchaudio, README's two commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_matches_pyproject():
    proj = _pyproject()["project"]
    wanted = {_name(r): r.replace(" ", "") for r in proj["dependencies"] + proj["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_list = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_names = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    have = {_name(r): r.replace(" ", "") for r in pip_list if not r.startswith("-e")}
    assert set(have) == set(wanted), (set(have) ^ set(wanted))
    assert have == wanted  # same version ranges too
    assert "-e ." in pip_list
    assert conda_names <= {"python", "pip"}


def test_required_runtime_dependencies_and_dev_extra():
    proj = _pyproject()["project"]
    names = {_name(r) for r in proj["dependencies"]}
    for need in ("torch", "numpy", "librosa", "soundfile", "pandas", "matplotlib", "seaborn", "ipywidgets",
                 "jupyterlab", "papermill", "nbconvert", "ipykernel", "scikit-learn", "tqdm", "pooch"):
        assert need in names, need
    assert {"pytest", "ruff"} <= {_name(r) for r in proj["optional-dependencies"]["dev"]}
    assert proj["requires-python"] == ">=3.11"


def test_torch_range_admits_2_13_and_excludes_newer():
    from packaging.specifiers import SpecifierSet

    spec = next(r for r in _pyproject()["project"]["dependencies"] if _name(r) == "torch")
    s = SpecifierSet(spec[len("torch"):])
    assert "2.13.0" in s and "2.14.0" not in s


def test_no_torchaudio_anywhere():
    proj = _pyproject()["project"]
    reqs = proj["dependencies"] + [r for extra in proj["optional-dependencies"].values() for r in extra]
    assert "torchaudio" not in {_name(r) for r in reqs}
    env_lines = [ln.split("#")[0] for ln in (ROOT / "environment.yml").read_text().splitlines()]
    assert not any("torchaudio" in ln for ln in env_lines)
    for py in (ROOT / "l2i_core").rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+torchaudio", py.read_text(), re.M), py
    readme = (ROOT / "README.md").read_text()
    assert "torchaudio" in readme and "maintenance" in readme and "2.11" in readme


def test_readme_first_screen_has_exactly_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:bash)?\n(.*?)```", readme, re.S).group(1)
    commands = [ln.split("#")[0].strip() for ln in first_block.splitlines() if ln.split("#")[0].strip()]
    assert commands == ["make reproduce", "make test"]
    assert readme.index("make test") < 1200  # on the first screen


def test_ci_script_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "torch==2.13.0" in ci and '-e ".[dev]"' in ci and "make test" in ci
    assert ci.index("torch==2.13.0") < ci.index('-e ".[dev]"')
    assert "L2I_DATA" in ci


def test_readme_results_table_matches_the_reports():
    from l2i_core.report.headline import README_END, README_START, readme_markdown

    readme = (ROOT / "README.md").read_text()
    block = readme.split(README_START, 1)[1].split(README_END, 1)[0].strip()
    assert block == readme_markdown(ROOT / "reports").strip(), "run `l2i readme` (l2i_core.report.headline.write_readme)"
    if any((ROOT / "reports").glob("*/results.json")):
        assert block.count("\n") >= 3  # committed reports give rows


def test_committed_reports_fit_the_size_budget():
    pages = list((ROOT / "reports").rglob("*.html"))
    sizes = {p.relative_to(ROOT).as_posix(): p.stat().st_size for p in pages}
    assert all(s <= 5 * 2**20 for s in sizes.values()), {k: v for k, v in sizes.items() if v > 5 * 2**20}
    total = sum(p.stat().st_size for p in (ROOT / "reports").rglob("*") if p.is_file() and p.suffix != ".ipynb")
    assert total <= 40 * 2**20, f"reports/ holds {total / 2**20:.1f} MB (budget 40 MB)"


def test_nothing_points_to_a_shared_folder_beside_the_checkout():
    """A person who clones the project has no shared folder beside it: no tracked text file may point there."""
    import subprocess

    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in files:
        path = ROOT / name
        if name.startswith(".ci/") or path.suffix in (".html", ".png", ".npy") or not path.is_file():
            continue  # .ci/run is the CI machine's own entry point
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if any(needle in text for needle in ("../" + "shared", "shared" + "/data")):
            offenders.append(name)
    assert not offenders, offenders


def test_makefile_has_a_fast_tier_without_notebooks_and_browser():
    make = (ROOT / "Makefile").read_text()
    fast = make.split("test-fast:", 1)[1].split("\n\n", 1)[0]
    assert '-m "not notebook and not browser' in fast
    assert "L2I_DATA ?=" not in make  # the data folder comes from the environment only
    readme = (ROOT / "README.md").read_text()
    assert "make test-fast" in readme and "make test`" in readme


def test_make_reproduce_runs_each_dataset_of_the_default_run_with_the_threads_it_names():
    import shutil
    import subprocess

    import pytest

    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    runs = {"esc10": "cpu", "urbanmix": "efficientat", "esc50-fold4": "efficientat"}
    for dataset, preset in runs.items():
        # -n prints what the one-dataset rule runs (a plain recipe: make executes nothing)
        out = subprocess.run(["make", "-n", f"reproduce/{dataset}/{preset}", "PYTHON=py", "THREADS=3"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        assert "OMP_NUM_THREADS=3 MKL_NUM_THREADS=3" in out
        assert f"py -m l2i_core reproduce --dataset {dataset} --preset {preset}" in out
    recipe = (ROOT / "Makefile").read_text().split("\nreproduce: install", 1)[1].split("\n\n", 1)[0]
    # the data first, one download at a time, then the datasets side by side, then the index and the README
    order = [recipe.index(s) for s in ("l2i_core download", "-j$(JOBS)", "l2i_core index", "l2i_core readme")]
    assert order == sorted(order)
    assert "DEFAULT_RUN = " + " ".join(f"{d}/{p}" for d, p in runs.items()) in (ROOT / "Makefile").read_text()


def test_aisfx_is_installed_without_its_dependencies_everywhere():
    from l2i_core.models.pretrained import INSTALL_HINT

    assert INSTALL_HINT == "pip install --no-deps aisfx==0.1.2"
    make = (ROOT / "Makefile").read_text()
    assert "--no-deps aisfx==0.1.2" in make.split("install:", 1)[1].split("\n\n", 1)[0]
    assert "--no-deps aisfx==0.1.2" in (ROOT / ".ci" / "run").read_text()
    assert INSTALL_HINT in (ROOT / "README.md").read_text()
    assert INSTALL_HINT in (ROOT / "environment.yml").read_text()
    names = {_name(r) for r in _pyproject()["project"]["dependencies"]}
    assert "aisfx" not in names  # as a dependency pip would pull its obsolete pins


def _make_install_commands(tmp_path, managed: bool) -> str:
    """``make -n install`` with a ``python3`` that reports an externally managed (PEP 668) interpreter, or not."""
    import os
    import subprocess

    bin_dir = tmp_path / ("managed" if managed else "free")
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(f"#!/bin/sh\necho {int(managed)}\n")
    (bin_dir / "python3").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "PIP", "MAKEFLAGS", "MFLAGS")}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    return subprocess.run(["make", "-n", "-C", str(ROOT), "install"], env=env, capture_output=True, text=True,
                          check=True).stdout


def test_make_install_never_writes_to_a_system_managed_python(tmp_path):
    """Where python3 is the system's (Debian/Ubuntu: externally managed) make install makes .venv and installs there;
    elsewhere (a virtual environment, pyenv, conda, CI) it installs into python3 as before."""
    managed = _make_install_commands(tmp_path, True)
    assert "python3 -m venv .venv" in managed and '".venv/bin/python" = ".venv/bin/python"' in managed
    pips = [ln for ln in managed.splitlines() if " -m pip install" in ln]
    assert pips and all(ln.startswith(".venv/bin/python -m pip install") for ln in pips)
    free = _make_install_commands(tmp_path, False)
    pips = [ln for ln in free.splitlines() if " -m pip install" in ln]
    assert pips and all(ln.startswith("python3 -m pip install") for ln in pips)
    assert "--index-url" not in free  # torch from the configured index unless TORCH_INDEX says otherwise

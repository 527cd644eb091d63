"""The project folder: the same artifacts and reports whatever the working directory (issue: a notebook opened
from ``notebooks/`` in JupyterLab looked for ``notebooks/artifacts/`` and retrained everything)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from l2i_core.pipeline.cli import main
from l2i_core.pipeline.run import PROJECT_ENV, project_dir, project_path, project_relative, run_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_project_env(monkeypatch):
    monkeypatch.delenv(PROJECT_ENV, raising=False)


def test_the_checkout_is_the_project_from_its_root_its_notebooks_and_elsewhere(no_project_env, monkeypatch, tmp_path):
    for where in (ROOT, ROOT / "notebooks", ROOT / "l2i_core" / "pipeline", tmp_path):
        monkeypatch.chdir(where)
        assert project_dir() == ROOT, where  # tmp_path: no checkout above it, so the one imported
        assert run_config(dataset="esc10").artifacts_dir.resolve() == ROOT / "artifacts" / "esc10-cpu"
        assert run_config(dataset="esc10", artifacts_dir="artifacts/x").artifacts_dir.resolve() == ROOT / "artifacts" / "x"
        assert run_config(dataset="esc10", artifacts_dir=str(tmp_path)).artifacts_dir.resolve() == tmp_path.resolve()
    monkeypatch.chdir(ROOT)  # make reproduce at the root: the short form every message and report showed before
    assert run_config(dataset="esc10").artifacts_dir == Path("artifacts/esc10-cpu")
    monkeypatch.chdir(ROOT / "notebooks")  # JupyterLab's kernel: the same folder, written in full
    assert run_config(dataset="esc10").artifacts_dir == ROOT / "artifacts" / "esc10-cpu"


def test_the_environment_names_another_project(monkeypatch, tmp_path):
    monkeypatch.setenv(PROJECT_ENV, str(tmp_path))
    assert project_dir() == tmp_path.resolve()
    assert (run_config(dataset="urbanmix", quick=True).artifacts_dir.resolve()
            == tmp_path.resolve() / "artifacts" / "urbanmix-cpu-quick")
    assert project_path(None, "reports") == tmp_path.resolve() / "reports"
    assert project_relative(tmp_path / "artifacts" / "a") == "artifacts/a"  # what a record stores
    assert project_relative("/elsewhere/b") == "/elsewhere/b"


def test_a_relative_command_line_path_is_taken_from_where_the_shell_is(monkeypatch, tmp_path):
    """``l2i index --reports-dir out`` from ``tmp_path`` writes ``tmp_path/out``, not the project's."""
    monkeypatch.setenv(PROJECT_ENV, str(tmp_path / "project"))
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    assert main(["index", "--reports-dir", "out"]) == 0
    assert (tmp_path / "here" / "out" / "index.html").is_file()
    assert main(["index"]) == 0  # no option: the project's reports/
    assert (tmp_path / "project" / "reports" / "index.html").is_file()


@pytest.mark.notebook
def test_a_notebook_run_from_notebooks_and_from_the_root_finds_the_same_artifacts(no_project_env, tmp_path):
    """papermill with ``--cwd notebooks`` (as JupyterLab opens a notebook) and from the project root: the notebook's
    own ``run_config`` resolves one artifacts folder, the project's."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('artifacts_dir = ""', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("from l2i_core.pipeline.run import run_config\n"
                                          "print(run_config(dataset='esc10', artifacts_dir=artifacts_dir).artifacts_dir.resolve())")]
    src = tmp_path / "where.ipynb"
    nbformat.write(nb, src)
    seen = []
    for cwd in (ROOT, ROOT / "notebooks"):
        out = tmp_path / f"out-{cwd.name}.ipynb"
        subprocess.run([sys.executable, "-m", "papermill", str(src), str(out), "--cwd", str(cwd), "-k", "python3",
                        "--no-progress-bar"], check=True, capture_output=True)
        seen.append(nbformat.read(out, as_version=4).cells[1].outputs[0]["text"].strip())
    assert seen[0] == seen[1] == str(ROOT / "artifacts" / "esc10-cpu")


def test_every_notebook_takes_its_artifacts_folder_from_run_config():
    """The notebooks never build a path from the working directory: their one artifacts folder is run_config's."""
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert "artifacts_dir=artifacts_dir" in code, path.name
        assert "Path(\"artifacts" not in code and "'artifacts/" not in code and "Path.cwd()" not in code, path.name

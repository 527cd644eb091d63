"""`l2i reproduce`: skipping current steps, --force, results.json collection, index.html, exit codes.

Fast: two tiny notebooks in a temporary folder stand in for notebooks/ (no audio, no training).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from l2i_core.paper import PAPER
from l2i_core.pipeline import notebooks as pipeline
from l2i_core.pipeline.cli import main
from l2i_core.pipeline.notebooks import NotebookFailed, reproduce, step_fingerprint
from l2i_core.pipeline.notebooks import (
    package_digest as real_package_digest,  # the real one: fixed_package pins the module's
)
from l2i_core.report.headline import headline_rows, write_index

PARAMETERS = """dataset: str = "esc10"  # dataset name
data_dir: str = ""  # dataset folder
preset: str = "cpu"  # preset
seed: int = 0  # seed
quick: bool = False  # tiny data
artifacts_dir: str = ""  # where results go"""

STEP_00 = """from pathlib import Path
art = Path(artifacts_dir)
art.mkdir(parents=True, exist_ok=True)
with open(art / "log.txt", "a") as f:
    f.write("00\\n")"""

STEP_01 = """from pathlib import Path
from l2i_core.report.results import update_results
art = Path(artifacts_dir)
with open(art / "log.txt", "a") as f:
    f.write("01\\n")
update_results(art / "results.json", "classifier",
               {"accuracy": 0.875, "n_clips": 80, "split": "test", "protocol": "test fold 1 (fake)"})
update_results(art / "results.json", "interpreter",
               {"heads": {"attention": {"fidelity": {"top1": 90.0}, "selection_metric": "top1",
                                        "validation_selection_score": 0.8, "train_seconds": 3.0}},
                "split": "test", "protocol": "test fold 1 (fake)"})"""


def _notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params, *map(nbformat.v4.new_code_cell, cells)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture(autouse=True)
def fixed_package(monkeypatch):
    """The sources of l2i_core may change while the suite runs (other work in the tree): pin their digest."""
    monkeypatch.setattr(pipeline, "package_digest", lambda package_dir=None: "0" * 64)


@pytest.fixture()
def project(tmp_path, monkeypatch):
    """A working directory with notebooks 00 and 01; ``run(**kw)`` reproduces and returns the steps that ran."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("L2I_PROJECT", str(tmp_path))
    nbs = tmp_path / "nbs"
    _notebook(nbs / "00_data.ipynb", STEP_00)
    _notebook(nbs / "01_numbers.ipynb", STEP_01)
    log = tmp_path / "art" / "log.txt"

    def run(**kw):
        before = log.read_text().split() if log.exists() else []
        reproduce("esc10", quick=True, reports_dir=tmp_path / "reports", artifacts_dir=tmp_path / "art",
                  notebooks_dir=nbs, check_data=False, **kw)
        return log.read_text().split()[len(before):]

    run.nbs, run.reports = nbs, tmp_path / "reports"
    return run


def test_fingerprint_covers_notebook_parameters_and_package(tmp_path):
    nb = _notebook(tmp_path / "00_a.ipynb", "x = 1")
    base = step_fingerprint(nb, {"seed": 0}, package="p")
    assert base == step_fingerprint(nb, {"seed": 0}, package="p")
    assert base != step_fingerprint(nb, {"seed": 1}, package="p")
    assert base != step_fingerprint(nb, {"seed": 0}, package="q")
    _notebook(nb, "x = 2")
    assert base != step_fingerprint(nb, {"seed": 0}, package="p")



def test_package_digest_changes_with_any_source_file(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    digest = real_package_digest(pkg)
    assert re.fullmatch(r"[0-9a-f]{64}", digest) and digest == real_package_digest(pkg)
    (pkg / "sub" / "b.py").write_text("y = 3\n")
    assert real_package_digest(pkg) != digest
    assert re.fullmatch(r"[0-9a-f]{64}", real_package_digest())  # l2i_core itself


@pytest.mark.notebook  # runs papermill kernels many times (about 35 s / 16 s): in `make test`, not test-fast
def test_skips_current_steps_reruns_changed_ones_and_force(project, capsys):
    assert project() == ["00", "01"]
    record = json.loads((project.reports / "esc10" / "results.json").read_text())
    assert [s["status"] for s in record["steps"]] == ["ran", "ran"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", s["fingerprint"]) for s in record["steps"])

    capsys.readouterr()
    assert project() == []  # everything current
    out = capsys.readouterr().out
    assert out.count("skipped (current)") == 2 and "00_data.ipynb" in out and "01_numbers.ipynb" in out
    record = json.loads((project.reports / "esc10" / "results.json").read_text())
    assert [s["status"] for s in record["steps"]] == ["skipped (current)"] * 2

    _notebook(project.nbs / "01_numbers.ipynb", STEP_01, "print('changed')")
    assert project() == ["01"]  # only the changed notebook

    assert project(force=True, only=["00"]) == ["00"]
    assert project() == ["01"]  # its earlier step ran after it: not current any more

    (project.reports / "esc10" / "01_numbers.html").unlink()
    assert project() == ["01"]  # outputs missing

    assert project(force=True) == ["00", "01"]


@pytest.mark.notebook  # runs papermill kernels many times (about 35 s / 16 s): in `make test`, not test-fast
def test_parameter_change_reruns_everything(project):
    assert project() == ["00", "01"]
    assert project(seed=1) == ["00", "01"]


def test_results_json_collects_sections_paper_and_timings(project):
    project()
    out = project.reports / "esc10"
    record = json.loads((out / "results.json").read_text())
    assert record["results"]["classifier"]["accuracy"] == 0.875
    assert record["results"]["interpreter"]["heads"]["attention"]["fidelity"]["top1"] == 90.0
    assert record["paper"] == json.loads(json.dumps(PAPER))
    assert record["paper"]["fidelity_esc50"]["L2I attention"]["top1"] == 65.7
    assert record["total_seconds"] > 0 and all(s["seconds"] > 0 for s in record["steps"])
    assert record["steps_seconds"] == pytest.approx(sum(s["seconds"] for s in record["steps"]), abs=0.1)
    assert record["machine"]["cores"] >= 1 and record["machine"]["torch_threads"] >= 1
    assert [(s["executed"], s["html"]) for s in record["steps"]] == [
        ("00_data.ipynb", "00_data.html"), ("01_numbers.ipynb", "01_numbers.html")]
    assert record["parameters"]["quick"] is True and "failed" not in record

    index = (project.reports / "index.html").read_text()
    assert 'href="esc10/00_data.html"' in index and 'href="esc10/01_numbers.html"' in index
    assert "87.5 %" in index and "82.5 %" in index  # ours and the paper's classifier accuracy
    assert "90.0 %" in index and "65.7 %" in index  # top-1 fidelity, attention head
    assert "test fold 1 (fake)" in index and "quick run" in index
    assert "of notebooks" in index


def test_reports_are_self_contained(project):
    project(only=["00"])
    report = (project.reports / "esc10" / "00_data.html").read_text()
    assert "<html" in report and "00_data" in report
    assert not re.findall(r"""(?:src|href)=["']https?://""", report)
    assert not re.findall(r"""import\(["']https?://""", report)
    index = (project.reports / "index.html").read_text()
    assert "<script" not in index and not re.findall(r"""(?:src|href)=["']https?://""", index)


def test_index_lists_every_dataset_and_is_robust_to_missing_sections(tmp_path):
    reports = tmp_path / "reports"
    (reports / "esc10").mkdir(parents=True)
    (reports / "esc10" / "00_data.html").write_text("<html></html>")
    (reports / "esc10" / "results.json").write_text(json.dumps({
        "dataset": "esc10", "preset": "cpu", "quick": False, "total_seconds": 12.5,
        "steps": [{"notebook": "00_data.ipynb", "html": "00_data.html", "seconds": 3.0, "status": "ran"},
                  {"notebook": "01_dictionary.ipynb", "html": "01_dictionary.html", "seconds": 4.0}],
        "results": {
            "classifier": {"accuracy": 0.9, "split": "test", "protocol": "test fold 1", "confusion_matrix": [[1]]},
            "fidelity": {"heads": {"attention": {"top1": 80.0, "top3": 95.0}, "max": {"top5": 100.0}}},
            "faithfulness_attention": {"head": "attention", "ff": {"0.9": {
                "median_logit_drop": 0.01, "random": 1e-5, "components_median": 14.0, "median_prob_drop": 0.2}}},
            "faithfulness_max": {"head": "max", "ff": {"0.9": {"median_logit_drop": 0.03}}},
            "noise": "not a dict",
        },
    }))
    (reports / "urbanmix").mkdir()
    (reports / "urbanmix" / "results.json").write_text(json.dumps(  # the format before results were collected
        {"dataset": "urbanmix", "steps": [{"notebook": "00_data.ipynb", "html": "00_data.html", "seconds": 1}]}))
    (reports / "broken").mkdir()
    (reports / "broken" / "results.json").write_text("{not json")
    (reports / "sonyc").mkdir()
    (reports / "sonyc" / "results.json").write_text(json.dumps({"dataset": "sonyc", "failed": {
        "notebook": "02_train_classifier.ipynb", "error": "02_train_classifier.ipynb failed in cell 5"}}))

    index = write_index(reports).read_text()
    for name in ("esc10", "urbanmix", "sonyc"):
        assert f'id="{name}"' in index
    assert 'href="esc10/00_data.html"' in index
    assert "01_dictionary.html" not in index and "no HTML report" in index  # missing file: no dead link
    assert 'href="urbanmix/00_data.html"' not in index
    assert "failed in cell 5" in index and "No headline numbers yet" in index
    assert "90.0 %" in index and "82.5 %" in index
    assert "80.0 %" in index and "65.7 %" in index and "81.8 %" in index and "92.7 %" in index
    assert "confusion" not in index
    assert "took 0.1 min of notebook time" in index  # 3 + 4 + 1 s of steps in the full (not quick) runs

    rows = {(r.section, r.metric): r for r in headline_rows(json.loads((reports / "esc10" / "results.json").read_text()))}
    drop = rows[("faithfulness_attention", "ff_median_logit_drop")]
    assert drop.closest_key is None and "random comps. 1e-05" in drop.baseline  # the baseline beside it, no paper
    assert rows[("faithfulness_attention", "ff_components_median")].closest_key is None  # 14 components: not FF
    prob = rows[("faithfulness_attention", "ff_median_prob_drop")]  # the paper's FF is a probability drop ...
    assert prob.paper_text == "" and prob.closest.text == "0.002 (spread not recorded here)"  # ... measured elsewhere
    assert rows[("faithfulness_max", "ff_median_logit_drop")].closest_key is None  # the paper has no max-pool FF
    assert "Closest published setting" in index and "0.002 (spread not recorded here)" in index
    assert rows[("classifier", "classifier_accuracy")].where == "esc10; test split; test fold 1"
    assert not any(section == "noise" for section, _ in rows)
    # the first screen: one card per dataset, before any long table; its numbers, with their context once
    cards = re.findall(r'<section class="card" data-dataset="([^"]+)">(.*?)</section>', index, re.S)
    assert [n for n, _ in cards] == ["broken", "esc10", "sonyc", "urbanmix"] and index.index("</section>") < index.index("<table")
    esc10 = dict(cards)["esc10"]
    assert "classifier accuracy</dt><dd>90.0 %" in esc10 and "test split; test fold 1" in esc10
    assert "failed in cell 5" in dict(cards)["sonyc"] and "No headline numbers yet" in dict(cards)["urbanmix"]
    # the licences of what the pages embed, ESC-50's non-commercial one named
    licences = index.split('id="licences"')[1]
    assert "CC BY 3.0" in licences and "urbanmix" in licences and "EfficientAT" in licences and "MIT" in licences
    # every long table says its data, split and protocol once per group, not in each row
    assert index.count("test split; test fold 1") < len(rows)


def test_empty_reports_dir_gives_an_index_too(tmp_path):
    assert "No reports yet" in write_index(tmp_path / "reports").read_text()


def test_main_returns_1_naming_the_cell_then_0_resuming_after_the_failure(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("L2I_PROJECT", str(tmp_path))
    nbs = tmp_path / "nbs"
    _notebook(nbs / "00_data.ipynb", STEP_00)
    _notebook(nbs / "01_numbers.ipynb", "x = 1", "raise ValueError('boom')")
    argv = ["reproduce", "--dataset", "esc10", "--quick", "--reports-dir", "reports", "--artifacts-dir", "art",
            "--notebooks-dir", str(nbs), "--no-data-check"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "01_numbers.ipynb" in err and "cell 4" in err and "ValueError: boom" in err
    record = json.loads((tmp_path / "reports" / "esc10" / "results.json").read_text())
    assert [s["notebook"] for s in record["steps"]] == ["00_data.ipynb"]  # what finished is kept
    assert record["failed"]["notebook"] == "01_numbers.ipynb"
    assert "ValueError: boom" in (tmp_path / "reports" / "index.html").read_text()

    _notebook(nbs / "01_numbers.ipynb", STEP_01)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "00_data.ipynb" in out and "skipped (current)" in out
    assert (tmp_path / "art" / "log.txt").read_text().split() == ["00", "01"]  # 00 ran once
    record = json.loads((tmp_path / "reports" / "esc10" / "results.json").read_text())
    assert "failed" not in record and record["results"]["classifier"]["accuracy"] == 0.875

    assert main(["reproduce", "--dataset", "imagenet"]) == 1
    assert "imagenet" in capsys.readouterr().err
    assert main(argv + ["--only", "99"]) == 1


def test_failure_raises_notebook_failed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("L2I_PROJECT", str(tmp_path))
    nbs = tmp_path / "nbs"
    _notebook(nbs / "00_bad.ipynb", "raise RuntimeError('nope')")
    with pytest.raises(NotebookFailed, match=r"00_bad.ipynb failed in cell 3"):
        reproduce("esc10", quick=True, reports_dir=tmp_path / "reports", artifacts_dir=tmp_path / "art",
                  notebooks_dir=nbs, check_data=False)


def test_quick_runs_never_overwrite_the_full_reports(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("L2I_PROJECT", str(tmp_path))
    nbs = tmp_path / "nbs"
    _notebook(nbs / "00_data.ipynb", STEP_00)
    assert main(["reproduce", "--dataset", "esc10", "--quick", "--artifacts-dir", "art", "--notebooks-dir", str(nbs),
                 "--no-data-check"]) == 0
    assert json.loads((tmp_path / "reports-quick" / "esc10" / "results.json").read_text())["quick"] is True
    assert (tmp_path / "reports-quick" / "index.html").is_file()
    assert not (tmp_path / "reports").exists()


def test_log_is_one_line_per_notebook_and_no_kernel_transport_warning(project, capfd):
    """The kernel runs over IPC sockets: no "TCP without encryption" warning; each notebook is one line; the
    sockets live in Jupyter's runtime folder, never in the working directory."""
    import re

    project()
    out, err = capfd.readouterr()
    assert "without encryption" not in out + err and "IPKernelApp" not in out + err
    record = json.loads((project.reports / "esc10" / "results.json").read_text())
    from l2i_core._version import full_version

    assert record["l2i_version"] == full_version() and record["dependencies"]["torch"]  # what ran, recorded
    from jupyter_core.paths import jupyter_runtime_dir

    from l2i_core.pipeline.notebooks import _kernel_transport

    manager = _kernel_transport()["kernel_manager_class"]()  # jupyter_client's default ip: ./kernel-ipc
    assert manager.transport == "ipc" and Path(manager.ip).parent == Path(jupyter_runtime_dir())
    lines = out.splitlines()
    for i, name in enumerate(("00_data.ipynb", "01_numbers.ipynb"), start=1):
        mine = [ln for ln in lines if name in ln]
        assert len(mine) == 1 and re.fullmatch(rf"\[{i}/2\] {name} \(esc10, cpu, quick\): \d+\.\d s -> \S+\.html "
                                               r"\(run so far \d+:\d\d\)", mine[0]), mine
    assert re.fullmatch(r"esc10: 2 ran, 0 skipped, total \d+\.\d s; reports in \S+/ \(index: \S+index\.html\)", lines[-1])


def test_the_final_summary_says_when_browser_tests_did_not_run(tmp_path):
    """``make test`` without Chromium: the summary names the skipped browser tests and how to run them."""
    import subprocess
    import sys

    conftest = Path(__file__).with_name("conftest.py")
    (tmp_path / "conftest.py").write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('l2i_conftest', {str(conftest)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "pytest_terminal_summary = mod.pytest_terminal_summary\n"
        "def pytest_configure(config):\n"
        "    config.addinivalue_line('markers', 'browser: needs Chromium')\n")
    (tmp_path / "test_x.py").write_text(
        "import pytest\n"
        "@pytest.mark.browser\n"
        "def test_page():\n"
        "    pytest.skip('Chromium not found at /usr/bin/chromium')\n"
        "def test_other():\n"
        "    pass\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    assert "browser tests did not run" in r.stdout
    assert "1 browser test(s) skipped: Chromium not found at /usr/bin/chromium" in r.stdout
    assert "apt-get install -y chromium" in r.stdout and "python -m pytest -m browser" in r.stdout


def test_on_a_terminal_the_running_notebook_shows_its_time_and_the_runs(project, monkeypatch):
    """``make reproduce`` in a terminal: the running notebook's line is rewritten in place with its elapsed time and
    the run's; once it ends, the line reads as in a log."""
    import io
    import re
    import sys

    from l2i_core.pipeline import notebooks

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    _notebook(project.nbs / "01_numbers.ipynb", "import time\ntime.sleep(3)\n" + STEP_01)
    term = Terminal()
    monkeypatch.setattr(sys, "stdout", term)
    monkeypatch.setattr(notebooks, "TICK_SECONDS", 0.2)
    project()
    text = term.getvalue()
    assert re.search(r"\r\[2/2\] 01_numbers\.ipynb \(esc10, cpu, quick\): running 0:0\d \(run so far 0:\d\d\)", text)
    last = text.split("\n")[1].split("\r")[-1]  # what the terminal shows once the notebook is done
    assert re.fullmatch(r"\[2/2\] 01_numbers\.ipynb \(esc10, cpu, quick\): \d+\.\d s -> \S+\.html \(run so far \d+:\d\d\)",
                        last), last


def test_reports_fold_the_code_and_show_every_output(tmp_path):
    """The HTML report: each code cell's source inside a closed ``<details>`` (a click shows it), markdown and
    outputs outside, nothing fetched from the network."""
    import nbformat
    from nbclient import NotebookClient

    from l2i_core.pipeline.notebooks import render_html

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# The story"), nbformat.v4.new_code_cell("secret_code_line = 6 * 7\n"
                                                                                       "print('the-output', secret_code_line)")]
    NotebookClient(nb, kernel_name="python3").execute()
    path = tmp_path / "r.ipynb"
    nbformat.write(nb, path)
    html = render_html(path).read_text()
    folded = html.split('<details class="l2i-code">')
    assert len(folded) == 2 and "secret_code_line" in folded[1].split("</details>")[0]  # the code: folded
    assert "secret_code_line" not in folded[0] and "<details open" not in html
    assert "the-output 42" in folded[1].split("</details>", 1)[1]  # its output: after the fold, shown
    assert "The story" in folded[0]  # markdown is never folded
    assert "https://cdn" not in html and "<script src=\"http" not in html


def test_rerender_reports_renders_the_recorded_outputs_without_running_anything(tmp_path):
    """``l2i index --render``: each executed notebook kept under reports/<dataset>/ is rendered again with the
    current template, from the outputs it recorded (here an output no execution of its code could give)."""
    import nbformat

    from l2i_core.pipeline.notebooks import rerender_reports

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(6 * 7)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="recorded-output-41\n")]
    nb.cells = [cell]
    (tmp_path / "esc10").mkdir()
    nbformat.write(nb, tmp_path / "esc10" / "04_fidelity.ipynb")
    (tmp_path / "esc10" / "04_fidelity.html").write_text("old page")
    (tmp_path / "esc10" / "05_faithfulness.html").write_text("no notebook kept")

    written = rerender_reports(tmp_path)

    assert written == [tmp_path / "esc10" / "04_fidelity.html"]
    html = written[0].read_text()
    assert "recorded-output-41" in html and '<details class="l2i-code">' in html and "old page" not in html
    assert (tmp_path / "esc10" / "05_faithfulness.html").read_text() == "no notebook kept"  # left as it was
    with pytest.raises(FileNotFoundError, match="l2i reproduce"):
        rerender_reports(tmp_path / "missing")

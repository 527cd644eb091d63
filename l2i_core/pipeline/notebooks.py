"""Run the numbered notebooks with papermill and render them to self-contained HTML reports.

``l2i reproduce --dataset esc10 --preset cpu`` (also ``python -m l2i_core.pipeline.notebooks``) executes
``notebooks/00_*.ipynb``, ``01_*.ipynb``, ... in order with the shared parameters and one
``artifacts_dir``, writes the executed notebooks and their HTML to ``reports/<dataset>/``, and
records in ``reports/<dataset>/results.json``:

* per step: its timing and a *fingerprint* (sha256 of the notebook file, the parameters and the
  sources of ``l2i_core``). A later run skips a step whose executed notebook and HTML exist with the
  same fingerprint and none of whose earlier steps ran after it ("skipped (current)"); ``--force``
  runs everything again;
* ``"results"``: the sections the notebooks wrote to ``<artifacts_dir>/results.json``
  (``classifier``, ``interpreter``, ...), and ``"paper"``: the paper's numbers
  (:data:`l2i_core.paper.PAPER`);
* the total time of the run.

``reports/index.html`` (written by :mod:`l2i_core.report.headline`) links every report of every dataset under
``reports/`` and tabulates the headline numbers, each with its data, split and protocol, beside the
paper's identical quantity where there is one. Reports and index are self-contained: no script, style
or font is fetched from the network (MathJax, require.js and the
widget manager of nbconvert's template are left out, so write formulas in Unicode).

A failing notebook is reported by name and by the cell that failed; the steps that finished before
it stay recorded, so the next run resumes there.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import shutil
import sys
import threading
import time
from pathlib import Path

import pooch

from l2i_core._errors import L2IError, ParameterError
from l2i_core._version import dependency_versions, full_version
from l2i_core.data.registry import ensure_datasets
from l2i_core.paper import PAPER
from l2i_core.pipeline.run import from_here, notebook_parameters, project_path, project_relative, run_config
from l2i_core.report.headline import steps_seconds, write_index

__all__ = ["find_notebooks", "run_notebook", "render_html", "rerender_reports", "reproduce", "NotebookFailed", "package_digest", "step_fingerprint", "collect_results", "machine_info"]

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(__file__).resolve().parents[1]


class NotebookFailed(L2IError, RuntimeError):
    """A notebook raised while executing; the message names the notebook and the cell."""


def find_notebooks(notebooks_dir: str | Path | None = None) -> list[Path]:
    """The ``NN_*.ipynb`` notebooks of ``notebooks_dir`` (default: the repository's), in order."""
    d = Path(notebooks_dir) if notebooks_dir else REPO_ROOT / "notebooks"
    nbs = sorted(p for p in d.glob("[0-9][0-9]_*.ipynb"))
    if not nbs:
        raise ParameterError(f"{d}: no numbered notebooks (00_*.ipynb, ...) found")
    return nbs


def run_notebook(notebook: str | Path, out_dir: str | Path, parameters: dict, *, html: bool = True,
                 kernel_name: str | None = None, cwd: str | Path | None = None) -> dict:
    """Execute one notebook with papermill and render it to HTML.

    Returns
    -------
    dict
        ``{"notebook", "executed", "html", "seconds"}``.

    Raises
    ------
    NotebookFailed
        Naming the notebook, the failing cell (execution count) and the error.
    """
    import papermill as pm

    notebook, out_dir = Path(notebook), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / notebook.name
    t0 = time.perf_counter()
    try:
        with _report_matplotlibrc():
            pm.execute_notebook(
                str(notebook), str(executed), parameters=parameters, kernel_name=kernel_name,
                cwd=str(cwd) if cwd else None, progress_bar=False, **_kernel_transport(),
            )
    except pm.PapermillExecutionError as err:
        where = _failing_cell(notebook, executed) or f"execution count {err.exec_count}"
        raise NotebookFailed(
            f"{notebook.name} failed in {where} ({err.ename}: {err.evalue}); the executed notebook is {executed}"
        ) from None
    seconds = time.perf_counter() - t0
    out = {"notebook": notebook.name, "executed": str(executed), "html": None, "seconds": round(seconds, 1)}
    if html:
        out["html"] = str(render_html(executed))
    return out


#: Resolution of the figures in executed notebooks and their HTML reports (matplotlib's default is 100):
#: 80 dpi keeps every figure legible and the committed reports within their budget (5 MB a page, 40 MB
#: in all) with 32 kHz audio and 50-class figures.
REPORT_FIGURE_DPI = 80


@contextlib.contextmanager
def _report_matplotlibrc():
    """Kernels started inside read a ``matplotlibrc`` with ``figure.dpi: REPORT_FIGURE_DPI`` (``MATPLOTLIBRC``).

    Only the notebooks the pipeline executes are affected; the variable is restored afterwards.
    """
    import os
    import tempfile

    old = os.environ.get("MATPLOTLIBRC")
    with tempfile.TemporaryDirectory(prefix="l2i-mplrc-") as d:
        Path(d, "matplotlibrc").write_text(f"figure.dpi: {REPORT_FIGURE_DPI}\n")
        os.environ["MATPLOTLIBRC"] = d
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("MATPLOTLIBRC", None)
            else:
                os.environ["MATPLOTLIBRC"] = old


def _kernel_transport() -> dict:
    """The kernel talks to papermill over local IPC sockets, not TCP (POSIX only).

    A kernel on TCP without CurveZMQ keys warns "Kernel is running over TCP without encryption" into
    every run's log; IPC sockets are files in the Jupyter runtime folder, readable by this user only.
    """
    import os

    if os.name != "posix":  # pragma: no cover - Windows has no IPC transport
        return {}
    import uuid

    from jupyter_core.paths import jupyter_runtime_dir

    runtime = jupyter_runtime_dir()
    # a socket path is at most ~104 bytes: <runtime>/l2i-kernel-<12 hex>-ipc-<n>; else stay on TCP
    if len(os.fsencode(runtime)) + 32 > 100:  # pragma: no cover - unusually long runtime dirs
        return {}
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _transport_default(self):
            return "ipc"

        @default("ip")
        def _ip_default(self):
            # jupyter_client's own default is ``kernel-ipc`` relative to the working directory: sockets in the
            # project folder; here they go to the runtime folder, one name per kernel
            os.makedirs(runtime, exist_ok=True)
            return os.path.join(runtime, f"l2i-kernel-{uuid.uuid4().hex[:12]}-ipc")

    return {"kernel_manager_class": IPCKernelManager}


def _failing_cell(source: Path, executed: Path) -> str | None:
    """``"cell N `first line`"`` of the first cell with an error output, numbered as in the source notebook."""
    import nbformat

    try:
        src = nbformat.read(source, as_version=4)
        node = nbformat.read(executed, as_version=4)
    except Exception:  # pragma: no cover - the partial notebook may be unreadable
        return None
    for cell in node.cells:
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            index = next((i for i, c in enumerate(src.cells, start=1) if c.get("id") == cell.get("id")), None)
            first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")[:60]
            return f"cell {index} `{first}`" if index else f"cell `{first}`"
    return None


# nbconvert's "lab" template, less everything it would fetch from a CDN (require.js, MathJax, mermaid,
# the widget manager): a report must open offline, and our notebooks show plain <audio> players.
_REPORT_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block input_group -%}
{%- if cell.cell_type == 'code' -%}
<details class="l2i-code"><summary>code</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{%- endblock input_group -%}
{%- block extra_css -%}
{{ super() }}
<style>details.l2i-code > summary { cursor: pointer; color: #666; font: 12px monospace; margin: 2px 0 2px 72px; }</style>
{%- endblock extra_css -%}
"""


def render_html(executed: str | Path) -> Path:
    """Render an executed notebook to a self-contained HTML file beside it (nothing fetched when opened).

    Code cells are folded (``<details>``: a click on "code" shows them), so that a reader who does not read code
    sees the narrative, the tables, the plots and the players; outputs are never folded."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    executed = Path(executed)
    exporter = HTMLExporter(extra_loaders=[jinja2.DictLoader({"l2i_report.html.j2": _REPORT_TEMPLATE})],
                            template_file="l2i_report.html.j2", embed_images=True)
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    target = executed.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def rerender_reports(reports_dir: str | Path) -> list[Path]:
    """Render again every executed notebook kept under ``reports_dir/<dataset>/`` (its ``*.ipynb``) to HTML.

    Runs nothing: the outputs are those the run recorded, only the page around them changes (a new template). A
    report whose executed notebook is missing is left as it is. Returns the HTML files written, in order."""
    reports_dir = Path(reports_dir)
    if not reports_dir.is_dir():
        raise FileNotFoundError(f"{reports_dir}: no reports folder; run `l2i reproduce` first")
    return [render_html(nb) for nb in sorted(reports_dir.glob("*/*.ipynb"))]


# -- fingerprints ----------------------------------------------------------------------------------

def package_digest(package_dir: str | Path | None = None) -> str:
    """sha256 over the relative paths and contents hashes of every ``*.py`` file of ``l2i_core``."""
    root = Path(package_dir) if package_dir else PACKAGE_DIR
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        if "__pycache__" in f.parts:
            continue
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + pooch.file_hash(str(f), alg="sha256").encode() + b"\n")
    return h.hexdigest()


def step_fingerprint(notebook: str | Path, parameters: dict, *, package: str | None = None) -> str:
    """sha256 of the notebook file, the parameters (as sorted JSON) and :func:`package_digest`."""
    h = hashlib.sha256()
    h.update(b"notebook:" + pooch.file_hash(str(notebook), alg="sha256").encode() + b"\n")
    h.update(b"parameters:" + json.dumps(parameters, sort_keys=True, default=str).encode() + b"\n")
    h.update(b"package:" + (package or package_digest()).encode() + b"\n")
    return h.hexdigest()


def _clock(seconds: float) -> str:
    """``'4:05'`` or ``'1:02:03'``: a duration as a clock reads it."""
    m, sec = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


#: Seconds between two updates of the running notebook's line on a terminal.
TICK_SECONDS = 1.0


@contextlib.contextmanager
def _ticking(head: str, run_start: float, every: float | None = None):
    """On a terminal, keep the running notebook's line current: its elapsed time and the run's, rewritten in
    place every :data:`TICK_SECONDS`; the line then ends as it would without it. In a log (not a terminal)
    nothing is added: one line per notebook."""
    stream = sys.stdout
    if not getattr(stream, "isatty", lambda: False)():
        yield
        return
    stop = threading.Event()
    t_nb = time.perf_counter()
    width = [0]

    def tick():
        while not stop.wait(TICK_SECONDS if every is None else every):
            now = time.perf_counter()
            # one terminal row (a wrapped line would not be rewritten by the carriage return)
            cols = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
            line = f"{head}: running {_clock(now - t_nb)} (run so far {_clock(now - run_start)})"[-cols:]
            width[0] = max(width[0], len(line))
            stream.write("\r" + line)
            stream.flush()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if width[0]:  # clear what the ticker wrote and give the line back as it was before
            stream.write("\r" + " " * width[0] + f"\r{head}: ")
            stream.flush()


def _is_current(step: dict | None, fingerprint: str, out_dir: Path, not_before: float) -> bool:
    """A recorded step is current when its fingerprint matches, its outputs exist, and no earlier step ran later."""
    if not step or step.get("fingerprint") != fingerprint:
        return False
    if not all(step.get(k) and (out_dir / step[k]).is_file() for k in ("executed", "html")):
        return False
    return float(step.get("executed_at", 0.0)) >= not_before


# -- results ---------------------------------------------------------------------------------------

def _json_safe(obj):
    """``obj`` as it reads back from JSON (float keys become strings, tuples lists, NaN None)."""
    def clean(o):
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o
    return json.loads(json.dumps(clean(obj), default=float))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def collect_results(artifacts_dir: str | Path) -> dict:
    """The sections the notebooks wrote to ``<artifacts_dir>/results.json`` (``{}`` when there are none)."""
    return _json_safe(_read_json(Path(artifacts_dir) / "results.json"))


def _write_record(out_dir: Path, record: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "results.json.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(out_dir / "results.json")


def reproduce(dataset: str = "esc10", preset: str = "cpu", *, quick: bool = False, seed: int = 0,
              data_dir: str | None = None, reports_dir: str | Path | None = None,
              artifacts_dir: str | Path | None = None, notebooks_dir: str | Path | None = None,
              only: list[str] | None = None, force: bool = False, offline: bool | None = None,
              check_data: bool = True) -> dict:
    """Run every notebook for one dataset, write ``reports/<dataset>/`` and ``reports/index.html``.

    Before any notebook starts, every dataset the run reads is checked
    (:func:`l2i_core.data.registry.ensure_datasets`); a missing one with a registered source is
    downloaded into the user cache first (checksummed, with a progress bar), unless ``offline``.

    Parameters
    ----------
    dataset, preset, quick, seed, data_dir, artifacts_dir
        The shared notebook parameters (see :func:`l2i_core.pipeline.run.run_config`); ``quick`` runs every
        notebook on tiny data, in ``artifacts/<dataset>-<preset>-quick`` by default.
    reports_dir : str or Path, optional
        Where ``<dataset>/`` (executed notebooks, HTML, ``results.json``) and ``index.html`` go.
        Default ``reports`` (the committed reports), or ``reports-quick`` for a quick run, so that
        a smoke test never overwrites the reports of a full run; in the project folder
        (:func:`~l2i_core.pipeline.run.project_dir`), as a relative path is.
    notebooks_dir : str or Path, optional
        Folder of the ``NN_*.ipynb`` notebooks (default: the repository's ``notebooks/``).
    only : list of str, optional
        Run only the notebooks whose names start with one of these prefixes (``["00", "03"]``).
    force : bool
        Run every selected notebook even when its outputs are current.
    offline : bool, optional
        No downloads: a missing dataset is an error that says what to do. Default: ``$L2I_OFFLINE``.
    check_data : bool
        Check (and fetch) the datasets first; ``False`` only for notebooks that read none of them.

    Returns
    -------
    dict
        The content written to ``reports/<dataset>/results.json``.

    Raises
    ------
    DataNotFoundError
        A dataset the run needs is missing and cannot be downloaded (offline, no registered source).
    NotebookFailed
        Naming the notebook and the cell; the steps finished before it are recorded.
    """
    cfg = run_config(dataset=dataset, data_dir=data_dir, preset=preset, seed=seed, quick=quick,
                     artifacts_dir=artifacts_dir)
    reports_dir = from_here(project_path(reports_dir, "reports-quick" if cfg.quick else "reports"))
    out_dir = reports_dir / cfg.dataset
    params = {  # the artifacts folder as the project sees it: the same record on every machine
        "dataset": cfg.dataset, "data_dir": cfg.data_dir or "", "preset": cfg.preset.name, "seed": cfg.seed,
        "quick": cfg.quick, "artifacts_dir": project_relative(cfg.artifacts_dir),
    }
    notebooks = find_notebooks(notebooks_dir)
    known = {nb.name for nb in notebooks}
    if only:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(o) for o in only)]
        if not notebooks:
            raise ParameterError(f"--only {' '.join(only)}: no notebook name starts with these prefixes")
    package = package_digest()
    found = ensure_datasets(cfg.dataset, cfg.data_dir, download=None if offline is None else not offline) \
        if check_data else {}
    for name, where in found.items():
        print(f"data: {name}: {where if where is not None else 'found or built by notebook 00'}", flush=True)

    previous = _read_json(out_dir / "results.json")
    same_run = previous.get("parameters") == params
    # Records of the steps that are on disk for these parameters, by notebook name.
    steps: dict[str, dict] = {s["notebook"]: s for s in previous.get("steps", [])
                              if same_run and s.get("notebook") in known}
    record = {
        "dataset": cfg.dataset, "preset": cfg.preset.name, "quick": cfg.quick, "parameters": params,
        "package_sha256": package, "l2i_version": full_version(), "dependencies": dependency_versions(),
        "steps": [], "total_seconds": 0.0,
        "results": dict(previous.get("results", {})) if same_run else {},
        "paper": _json_safe(PAPER),
    }

    def save(t0: float, failed: dict | None = None) -> dict:
        record["steps"] = [steps[k] for k in sorted(steps)]
        record["total_seconds"] = round(time.perf_counter() - t0, 2)
        # What the reports on disk cost to compute, skipped (current) steps included.
        record["steps_seconds"] = round(steps_seconds(record), 1)
        record["machine"] = machine_info()
        record["finished_at"] = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        record["results"].update(collect_results(cfg.artifacts_dir))
        record.pop("failed", None)
        if failed:
            record["failed"] = failed
        _write_record(out_dir, record)
        write_index(reports_dir)
        return record

    t0 = time.perf_counter()
    for i, nb in enumerate(notebooks, start=1):
        head = f"[{i}/{len(notebooks)}] {nb.name} ({cfg.dataset}, {cfg.preset.name}{', quick' if cfg.quick else ''})"
        nb_params = {**params, **notebook_parameters(nb.name, cfg.preset.name, quick=cfg.quick)}
        fingerprint = step_fingerprint(nb, nb_params, package=package)
        # Every step before this one (selected or not) must be older than this step's outputs.
        earlier = [float(s.get("executed_at", 0.0)) for name, s in steps.items() if name < nb.name]
        if not force and _is_current(steps.get(nb.name), fingerprint, out_dir, max(earlier, default=0.0)):
            steps[nb.name]["status"] = "skipped (current)"
            print(f"{head}: skipped (current)", flush=True)
            continue
        print(f"{head}: ", end="", flush=True)  # finished on the same line: one line per notebook
        steps.pop(nb.name, None)  # its outputs are about to be replaced
        t_nb = time.perf_counter()
        try:
            with _ticking(head, t0):
                step = run_notebook(nb, out_dir, nb_params, cwd=Path.cwd())
        except NotebookFailed as err:
            print(f"failed after {time.perf_counter() - t_nb:.1f} s: {err}", flush=True)
            save(t0, failed={"notebook": nb.name, "error": str(err)})
            raise
        steps[nb.name] = {
            "notebook": nb.name, "executed": Path(step["executed"]).name, "html": Path(step["html"]).name,
            "seconds": step["seconds"], "fingerprint": fingerprint, "executed_at": time.time(), "status": "ran",
            **({"preset_parameters": {k: v for k, v in nb_params.items() if k not in params}}
               if len(nb_params) > len(params) else {}),
        }
        print(f"{step['seconds']:.1f} s -> {step['html']} (run so far {_clock(time.perf_counter() - t0)})", flush=True)
        save(t0)  # after every step: a later failure keeps what finished
    save(t0)
    ran = sum(s["status"] == "ran" for s in steps.values() if s["notebook"] in {nb.name for nb in notebooks})
    print(f"{cfg.dataset}: {ran} ran, {len(notebooks) - ran} skipped, total {record['total_seconds']:.1f} s; "
          f"reports in {out_dir}/ (index: {reports_dir / 'index.html'})", flush=True)
    return record


def machine_info() -> dict:
    """Where the timings come from: CPU model, cores, torch threads, GPU, the CPU capability ATen uses
    (and any ISA cap from the environment), bfloat16 autocast."""
    import os
    import platform

    import torch

    from l2i_core.train.engine import AVX2_NO_BF16_ENV, native_bf16

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    # What the kernels could use: ATen's vector ISA (AVX2, AVX512, ...) and any cap set in the environment
    # (ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2: the README's "as an AVX2 CPU").
    caps = {k: os.environ[k] for k in AVX2_NO_BF16_ENV if os.environ.get(k)}
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "isa_caps": caps,
            "bf16_autocast": native_bf16("cuda" if gpu else "cpu"), "torch": torch.__version__,
            "python": platform.python_version()}




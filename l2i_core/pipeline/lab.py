"""The listening lab of notebook 07 as a web app: ``l2i lab --artifacts-dir DIR`` serves it with Voilà.

Voilà runs a notebook in a kernel of its own and shows its outputs, widgets included, as a web page
without the code. It takes no papermill parameters, so :func:`write_lab_notebook` writes a copy of
``notebooks/07_listening_lab.ipynb`` with the run's parameters injected (papermill's
``parameterize_notebook``) into a temporary folder, and Voilà serves that copy on localhost::

    l2i lab --artifacts-dir artifacts/esc10-cpu            # then open http://127.0.0.1:8866/

The lab only *listens*: the classifier (notebook 02) and the interpreter (notebook 03) must already be
in ``artifacts_dir``; :func:`lab_parameters` says in one line which notebook to run when they are not,
and never trains. The dataset, preset, seed and quick flag default to what the artifacts' sidecars
record, and the static gallery is left out (``show_gallery=False``: the lab plays every test clip).

>>> with start_lab("artifacts/esc10-cpu", port=free_port()) as server:   # doctest: +SKIP
...     print(server.url)                                                 # the page renders on first load
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import webbrowser
from pathlib import Path

from l2i_core._errors import L2IError, ParameterError
from l2i_core.pipeline.steps import interpreter_reusable

__all__ = ["LAB_NOTEBOOK", "lab_parameters", "write_lab_notebook", "LabServer", "start_lab", "serve_lab",
           "free_port", "add_lab_command", "run_lab"]

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The notebook whose last cells build the :class:`~l2i_core.report.widgets.ListeningLab`.
LAB_NOTEBOOK = REPO_ROOT / "notebooks" / "07_listening_lab.ipynb"
POOLINGS = ("attention", "max")


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def lab_parameters(artifacts_dir, *, dataset: str | None = None, data_dir: str | None = None,
                   pooling: str = "attention", quick: bool | None = None) -> dict:
    """Notebook 07's parameters for the lab of ``artifacts_dir`` (trained artifacts required).

    Parameters
    ----------
    artifacts_dir : str or Path
        Where notebooks 02 and 03 wrote ``classifier.pt`` and ``interpreter_<pooling>.pt``.
    dataset : str, optional
        Default: the dataset the classifier's sidecar (``classifier.json``) records; another one is refused.
    data_dir : str, optional
        The dataset's folder (default: ``$L2I_DATA/<dataset>``, then the cache).
    pooling : {'attention', 'max'}
        The Θ head to listen to.
    quick : bool, optional
        Whether the artifacts come from a quick run (the lab then offers the quick run's few clips).
        Default: what ``results.json`` records, else whether the folder's name ends in ``-quick``.

    Returns
    -------
    dict
        ``dataset, data_dir, preset, seed, quick, pooling, artifacts_dir`` (absolute), ``show_gallery=False`` and
        ``as_is=True`` (notebook 07 uses the pair as it is: the lab never trains).

    Raises
    ------
    ParameterError
        One line naming the missing or mismatched artifact and the notebook that makes it.
    """
    if pooling not in POOLINGS:
        raise ParameterError(f"pooling={pooling!r} must be one of {list(POOLINGS)}")
    d = Path(artifacts_dir).expanduser().resolve()
    if not d.is_dir():
        raise ParameterError(f"{d}: no such artifacts folder; run notebooks 02 and 03 (or `l2i reproduce`) first")
    if not (d / "classifier.pt").is_file():
        raise ParameterError(f"{d / 'classifier.pt'} is missing; run notebook 02 (02_train_classifier.ipynb) "
                             "for this artifacts folder first")
    if not (d / f"interpreter_{pooling}.pt").is_file():
        raise ParameterError(f"{d / f'interpreter_{pooling}.pt'} is missing; run notebook 03 "
                             "(03_train_interpreter.ipynb) for this artifacts folder first")
    clf = _read_json(d / "classifier.json")
    interp = _read_json(d / f"interpreter_{pooling}.json")
    recorded = clf.get("dataset")
    if dataset is not None and recorded and str(dataset).strip().lower() != recorded:
        raise ParameterError(f"{d} holds a classifier trained on {recorded}, not {dataset}; "
                             f"drop --dataset or run notebooks 02 and 03 for {dataset}")
    dataset = str(dataset).strip().lower() if dataset is not None else recorded
    if not dataset:
        raise ParameterError(f"{d / 'classifier.json'} does not say which dataset f was trained on; pass --dataset")
    preset = clf.get("preset") or "cpu"
    # What ensure_interpreter checks before reusing an interpreter: anything else would make notebook 07 train.
    if not interpreter_reusable(interp, dataset=dataset, preset=preset, classes=clf.get("classes")):
        raise ParameterError(f"{d / f'interpreter_{pooling}.json'} does not match the classifier of {d} "
                             f"({dataset}, preset {preset}); run notebook 03 (03_train_interpreter.ipynb) again")
    if quick is None:
        rec = _read_json(d / "results.json").get("classifier", {})
        quick = bool(rec["quick"]) if isinstance(rec, dict) and "quick" in rec else d.name.endswith("-quick")
    seed = int(clf.get("config", {}).get("seed", 0) or 0)
    return {"dataset": dataset, "data_dir": str(Path(data_dir).expanduser().resolve()) if data_dir else "",
            "preset": preset, "seed": seed, "quick": bool(quick), "pooling": pooling, "artifacts_dir": str(d),
            "show_gallery": False, "as_is": True}


def write_lab_notebook(parameters: dict, folder, *, notebook=None) -> Path:
    """Write notebook 07 with ``parameters`` injected (papermill's "injected-parameters" cell) into ``folder``.

    With ``show_gallery=False`` the cells tagged ``gallery`` (the static gallery's heading and cell) are
    left out of the copy, so the page starts with the explainer and goes on to the lab.
    """
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    source = Path(notebook) if notebook is not None else LAB_NOTEBOOK
    if not source.is_file():
        raise ParameterError(f"{source}: the listening-lab notebook is missing (l2i lab runs from a checkout)")
    nb = parameterize_notebook(load_notebook_node(str(source)), dict(parameters))  # as papermill does
    if parameters.get("show_gallery") is False:
        nb.cells = [c for c in nb.cells if "gallery" not in c.get("metadata", {}).get("tags", [])]
    target = Path(folder) / source.name
    nbformat.write(nb, target)
    return target


# Voilà's "lab" template, less the two Font Awesome style sheets it links from a CDN (the lab's widgets
# draw no icon): the page then fetches nothing from outside the server. notebook_css is the lab
# template's block without the two <link>s; super.super() is nbconvert's lab block below it.
_TEMPLATE = "l2i-lab"
_TEMPLATE_FILES = {
    "conf.json": json.dumps({"base_template": "lab"}),
    "index.html.j2": """{%- extends 'voila/templates/lab/index.html.j2' -%}
{% import "spinner.macro.html.j2" as spinner %}
{%- block notebook_css -%}
  {% if frontend == "voila" %}{{ resources.include_js("static/voila-style.js") }}{% endif %}
  {{ spinner.css() }}
  <style>.jp-mod-noOutputs.jp-mod-noInput { display: none; }</style>
  {{ super.super() }}
{%- endblock notebook_css -%}
""",
}


def _write_template(folder: Path) -> Path:
    """Write the page template under ``folder/jupyter`` (a Jupyter data directory); return that directory."""
    root = folder / "jupyter"
    d = root / "voila" / "templates" / _TEMPLATE
    d.mkdir(parents=True)
    for name, text in _TEMPLATE_FILES.items():
        (d / name).write_text(text)
    return root


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=2):
            return True
    except urllib.error.HTTPError:  # any HTTP status: the server is up
        return True
    except (OSError, ValueError):
        return False


class LabServer:
    """A running Voilà server of the lab; :meth:`stop` (or leaving the ``with`` block) ends it.

    Attributes
    ----------
    url : str
        The lab's page (``http://host:port/``); Voilà executes the notebook when it is first opened.
    process : subprocess.Popen
        Voilà, leader of its own process group (its kernels are in that group too).
    folder : Path
        The temporary folder of the parameterised notebook and the server's log (removed by :meth:`stop`).
    """

    def __init__(self, url: str, process: subprocess.Popen, folder: Path, log_path: Path):
        self.url = url
        self.process = process
        self.folder = Path(folder)
        self.log_path = Path(log_path)

    def log(self) -> str:
        """What Voilà wrote so far (stdout and stderr)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and its kernels, then remove :attr:`folder`.

        SIGTERM to the server's process group (Voilà then shuts its kernels down), SIGKILL to that
        group after ``timeout`` s; kernels still alive then (each leads a session of its own, so the
        group signal misses them) are killed with their groups.
        """
        try:
            kernels = _descendants(self.process.pid)
            if self.process.poll() is None:
                _signal_group(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
            _signal_group(self.process.pid, signal.SIGKILL)
            for pid in kernels + _descendants(self.process.pid):
                _signal_group(pid, signal.SIGKILL)
            self.process.wait(timeout)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> LabServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LabServer({self.url!r}, {'running' if self.running() else 'stopped'})"


def _signal_group(pid: int, sig: int) -> None:
    """``sig`` to the process group led by ``pid`` (started with ``start_new_session``), else to ``pid``."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (from ``/proc``; empty where there is none)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _kernel_env(jupyter_dir: Path) -> dict:
    """The environment of Voilà and its kernels: this ``l2i_core`` first on ``PYTHONPATH``, the page
    template's data directory first on ``JUPYTER_PATH``."""
    env = dict(os.environ)
    data = [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    env["JUPYTER_PATH"] = os.pathsep.join([str(jupyter_dir)] + data)
    paths = [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(REPO_ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return env


def start_lab(artifacts_dir, *, dataset: str | None = None, data_dir: str | None = None, pooling: str = "attention",
              quick: bool | None = None, host: str = "127.0.0.1", port: int = 0, timeout: float = 60.0,
              notebook=None) -> LabServer:
    """Start Voilà on the lab of ``artifacts_dir`` and return once the server answers HTTP.

    Parameters
    ----------
    artifacts_dir, dataset, data_dir, pooling, quick
        See :func:`lab_parameters` (checked before anything starts).
    host : str
        Interface to listen on (default: localhost only).
    port : int
        0: a free port.
    timeout : float
        Seconds to wait for the server to answer.
    notebook : str or Path, optional
        The notebook to serve (default :data:`LAB_NOTEBOOK`).

    Returns
    -------
    LabServer
        A context manager; the server runs until :meth:`LabServer.stop`.

    Raises
    ------
    ParameterError
        Artifacts missing or mismatched (nothing is started).
    L2IError
        Voilà is not installed, exited, or did not answer within ``timeout`` (it is stopped then).
    """
    params = lab_parameters(artifacts_dir, dataset=dataset, data_dir=data_dir, pooling=pooling, quick=quick)
    try:
        import voila  # noqa: F401
    except ImportError:
        raise L2IError("Voilà is not installed; pip install 'voila>=0.5' (or pip install -e .)") from None
    port = int(port) or free_port(host)
    folder = Path(tempfile.mkdtemp(prefix="l2i-lab-"))
    log_path = folder / "voila.log"
    try:
        nb = write_lab_notebook(params, folder, notebook=notebook)
        jupyter_dir = _write_template(folder)
        cmd = [sys.executable, "-m", "voila", str(nb), "--no-browser", f"--port={port}", f"--Voila.ip={host}",
               "--Voila.port_retries=0", "--strip_sources=True", "--show_tracebacks=True", f"--template={_TEMPLATE}",
               f"--Voila.root_dir={folder}"]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(cmd, cwd=folder, env=_kernel_env(jupyter_dir), stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    server = LabServer(f"http://{host}:{port}/", process, folder, log_path)
    try:
        deadline = time.monotonic() + float(timeout)
        while not _answers(server.url + "voila/static/voila.js"):
            if not server.running():
                if "no available port" in server.log():
                    raise L2IError(f"port {port} of {host} is in use; pass another (--port 0: any free port)")
                raise L2IError(f"Voilà exited with code {process.returncode}: {server.log().strip()[-2000:]}")
            if time.monotonic() > deadline:
                raise L2IError(f"Voilà did not answer at {server.url} within {timeout:g} s: "
                               f"{server.log().strip()[-2000:]}")
            time.sleep(0.2)
    except BaseException:
        server.stop()
        raise
    return server


def serve_lab(artifacts_dir, *, dataset: str | None = None, data_dir: str | None = None, pooling: str = "attention",
              quick: bool | None = None, host: str = "127.0.0.1", port: int = 8866, open_browser: bool = False,
              timeout: float = 60.0) -> int:
    """Serve the lab until Ctrl-C (or until Voilà exits); print its URL once the server answers.

    The page executes notebook 07 when it is opened (it loads the dataset and runs f on the test
    clips first: allow a minute). Returns Voilà's exit status (0 after Ctrl-C).
    """
    server = start_lab(artifacts_dir, dataset=dataset, data_dir=data_dir, pooling=pooling, quick=quick, host=host,
                       port=port, timeout=timeout)
    try:
        print(f"The listening lab is at {server.url} (Ctrl-C stops it)", flush=True)
        if open_browser:
            webbrowser.open(server.url)
        code = server.process.wait()
        if code:
            print(server.log().strip()[-2000:], file=sys.stderr)
        return int(code)
    except KeyboardInterrupt:
        print("stopping the lab", flush=True)
        return 0
    finally:
        server.stop()


def add_lab_command(sub) -> None:
    """Add ``l2i lab`` to an ``argparse`` sub-parser set."""
    p = sub.add_parser("lab", help="serve notebook 07's listening lab as a web app (Voilà, localhost)",
                       description="Serve the listening lab of notebooks/07_listening_lab.ipynb with Voilà: choose "
                                   "a clip, move τ and top-k, switch components on and off, and listen. The "
                                   "classifier and the interpreter must be in --artifacts-dir (notebooks 02 and 03); "
                                   "the dataset and preset are those they were trained for.")
    p.add_argument("--artifacts-dir", default=None, help="folder holding classifier.pt and interpreter_<pooling>.pt "
                                                        "(default: the project's artifacts/esc10-cpu when trained "
                                                        "here, else the shipped trained/esc10-cpu)")
    p.add_argument("--dataset", default=None, help="default: the dataset recorded in classifier.json")
    p.add_argument("--data-dir", default=None, help="dataset folder (default: $L2I_DATA/<dataset>, then the cache)")
    p.add_argument("--pooling", choices=POOLINGS, default="attention", help="the Θ head to listen to")
    p.add_argument("--quick", action=argparse.BooleanOptionalAction, default=None,
                   help="artifacts of a quick run (default: what results.json records)")
    p.add_argument("--port", type=int, default=8866, help="0: any free port")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: this machine only)")
    p.add_argument("--open-browser", action="store_true", help="open the page in the default browser")


def run_lab(args) -> int:
    """Run ``l2i lab`` from parsed arguments; an :class:`L2IError` becomes one line on stderr and status 1."""
    try:
        if not args.artifacts_dir:
            from l2i_core.pipeline.shipped import default_explainer_dir

            args.artifacts_dir = str(default_explainer_dir(head=args.pooling))
        return serve_lab(args.artifacts_dir, dataset=args.dataset, data_dir=args.data_dir, pooling=args.pooling,
                         quick=args.quick, host=args.host, port=args.port, open_browser=args.open_browser)
    except L2IError as err:
        print(f"l2i lab: error: {err}", file=sys.stderr)
        return 1

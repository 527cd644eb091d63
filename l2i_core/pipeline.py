"""Run the numbered notebooks with papermill and render them to self-contained HTML reports.

``l2i reproduce --dataset esc10 --preset cpu`` (also ``python -m l2i_core.pipeline``) executes
``notebooks/00_*.ipynb``, ``01_*.ipynb``, ... in order with the shared parameters and one
``artifacts_dir``, writes the executed notebooks and their HTML to ``reports/<dataset>/``, and
records timings in ``reports/<dataset>/results.json``. A failing notebook is reported by name and
by the cell that failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ._errors import L2IError, ParameterError
from .config import run_config

__all__ = ["find_notebooks", "run_notebook", "reproduce", "main", "NotebookFailed"]

REPO_ROOT = Path(__file__).resolve().parents[1]


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
        pm.execute_notebook(
            str(notebook), str(executed), parameters=parameters, kernel_name=kernel_name,
            cwd=str(cwd) if cwd else None, progress_bar=False,
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


def render_html(executed: str | Path) -> Path:
    """Render an executed notebook to a self-contained HTML file beside it."""
    import nbformat
    from nbconvert import HTMLExporter

    executed = Path(executed)
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    target = executed.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def reproduce(dataset: str = "esc10", preset: str = "cpu", *, quick: bool = False, seed: int = 0,
              data_dir: str | None = None, reports_dir: str | Path = "reports",
              artifacts_dir: str | Path | None = None, notebooks_dir: str | Path | None = None,
              only: list[str] | None = None) -> dict:
    """Run every notebook for one dataset and write ``reports/<dataset>/``.

    Returns
    -------
    dict
        The content written to ``reports/<dataset>/results.json``.
    """
    cfg = run_config(dataset=dataset, data_dir=data_dir, preset=preset, seed=seed, quick=quick,
                     artifacts_dir=artifacts_dir)
    out_dir = Path(reports_dir) / cfg.dataset
    params = {
        "dataset": cfg.dataset, "data_dir": cfg.data_dir or "", "preset": cfg.preset.name, "seed": cfg.seed,
        "quick": cfg.quick, "artifacts_dir": str(cfg.artifacts_dir),
    }
    notebooks = find_notebooks(notebooks_dir)
    if only:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(o) for o in only)]
    steps = []
    t0 = time.perf_counter()
    for i, nb in enumerate(notebooks, start=1):
        print(f"[{i}/{len(notebooks)}] {nb.name} ({cfg.dataset}, {cfg.preset.name})", flush=True)
        steps.append(run_notebook(nb, out_dir, params, cwd=Path.cwd()))
        print(f"      done in {steps[-1]['seconds']:.1f} s -> {steps[-1]['html']}", flush=True)
    results = {
        "dataset": cfg.dataset,
        "preset": cfg.preset.name,
        "quick": cfg.quick,
        "parameters": params,
        "steps": [{k: (Path(v).name if k in ("executed", "html") and v else v) for k, v in s.items()} for s in steps],
        "total_seconds": round(time.perf_counter() - t0, 1),
    }
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    """Console entry point ``l2i``."""
    parser = argparse.ArgumentParser(prog="l2i", description="Listen to Interpret: run the notebooks, write reports.")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("reproduce", help="run notebooks 00.. in order and render reports/<dataset>/")
    rep.add_argument("--dataset", default="esc10")
    rep.add_argument("--preset", default="cpu")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--data-dir", default=None)
    rep.add_argument("--quick", action="store_true", help="small data, for a smoke test")
    rep.add_argument("--reports-dir", default="reports")
    rep.add_argument("--artifacts-dir", default=None)
    rep.add_argument("--only", nargs="*", help="run only notebooks whose names start with these prefixes")
    args = parser.parse_args(argv)
    try:
        reproduce(args.dataset, args.preset, quick=args.quick, seed=args.seed, data_dir=args.data_dir,
                  reports_dir=args.reports_dir, artifacts_dir=args.artifacts_dir, only=args.only)
    except L2IError as err:
        print(f"l2i: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

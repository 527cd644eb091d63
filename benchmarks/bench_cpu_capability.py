"""Does "run as an AVX2 CPU without native bfloat16" take effect? The same work with and without the cap.

Many laptops and cloud CPUs have AVX2 but neither AVX-512 nor native bfloat16; l2i's timings on such a
CPU can be measured on a bigger one by capping the instruction sets PyTorch's kernels use::

    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 <command>
    make reproduce AS_AVX2=1                     # the same three variables, for the whole pipeline

With ``ONEDNN_MAX_CPU_ISA=AVX2`` oneDNN reports no native bf16, so l2i's autocast
(:func:`l2i_core.train.engine.native_bf16`) stays off by itself, as on the real CPU. This benchmark runs the
same child script natively and capped, interleaved, ``REPEATS`` times each, and prints what each child
saw (``torch.backends.cpu.get_cpu_capability()``, bf16 autocast) and the capped / native time ratio of

* a float32 2048 × 2048 matrix product (MKL / ATen GEMM),
* 5 training steps of the cpu preset's classifier f (batch 32 log-mel clips of 5 s, autocast when native).

Writes ``benchmarks/results/cpu_capability.json``.

    python benchmarks/bench_cpu_capability.py      # about 2 minutes on a 2-core CPU
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 3

CHILD = r"""
import json, time, torch
from l2i_core.models.classifier import AudioCNN
from l2i_core.config import get_preset
from l2i_core.train.engine import autocast_context, native_bf16
torch.manual_seed(0)
a = torch.randn(2048, 2048)
a @ a
t = time.perf_counter(); [a @ a for _ in range(8)]; gemm = time.perf_counter() - t
p = get_preset("cpu")
f = AudioCNN(10, p)
opt = torch.optim.Adam(f.parameters(), 1e-3)
x, y = torch.randn(32, p.n_mels, p.n_frames(5.0)), torch.randint(0, 10, (32,))
def step():
    with autocast_context("cpu"):
        loss = torch.nn.functional.cross_entropy(f(x).float(), y)
    opt.zero_grad(); loss.backward(); opt.step()
step()
t = time.perf_counter(); [step() for _ in range(5)]; train = time.perf_counter() - t
print(json.dumps({"cpu_capability": torch.backends.cpu.get_cpu_capability(), "bf16_autocast": native_bf16("cpu"),
                  "gemm_seconds": gemm, "classifier_5_steps_seconds": train}))
"""


def child(env: dict) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode:
        sys.exit(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    from l2i_core.pipeline.notebooks import machine_info
    from l2i_core.train.engine import AVX2_NO_BF16_ENV

    base = {k: v for k, v in os.environ.items() if k not in AVX2_NO_BF16_ENV}
    base["PYTHONPATH"] = os.pathsep.join([str(ROOT), base.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    settings = {"native": base, "capped (AVX2, no bf16)": {**base, **AVX2_NO_BF16_ENV}}
    runs: dict[str, list[dict]] = {k: [] for k in settings}
    for _ in range(REPEATS):  # interleaved, so a slow spell of the machine hits both sides
        for name, env in settings.items():
            runs[name].append(child(env))
    out = {"machine": machine_info(), "cap_env": AVX2_NO_BF16_ENV, "repeats": REPEATS, "settings": {}}
    for name, rs in runs.items():
        out["settings"][name] = {
            "cpu_capability": rs[0]["cpu_capability"], "bf16_autocast": rs[0]["bf16_autocast"],
            **{k: round(statistics.median(r[k] for r in rs), 3) for k in ("gemm_seconds", "classifier_5_steps_seconds")},
        }
    nat, cap = out["settings"]["native"], out["settings"]["capped (AVX2, no bf16)"]
    out["ratios_capped_over_native"] = {k: round(cap[k] / nat[k], 2) for k in ("gemm_seconds", "classifier_5_steps_seconds")}
    out["cap_took_effect"] = cap["cpu_capability"] == "AVX2" and not cap["bf16_autocast"]
    path = ROOT / "benchmarks" / "results" / "cpu_capability.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    for name, s in out["settings"].items():
        print(f"{name:24s} capability {s['cpu_capability']:8s} bf16 autocast {str(s['bf16_autocast']):5s} "
              f"GEMM {s['gemm_seconds']:.2f} s, f 5 steps {s['classifier_5_steps_seconds']:.2f} s")
    print(f"capped / native: GEMM {out['ratios_capped_over_native']['gemm_seconds']}x, "
          f"classifier steps {out['ratios_capped_over_native']['classifier_5_steps_seconds']}x; "
          f"cap took effect: {out['cap_took_effect']} -> {path}")


if __name__ == "__main__":
    main()

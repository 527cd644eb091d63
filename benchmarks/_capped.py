"""A benchmark's measurement run twice in child processes: natively and as an AVX2 CPU without native bf16.

The child is the calling script itself with ``--child`` and the given arguments; it prints one line
``JSON{...}`` (its measurement). The cap is :data:`l2i_core.train.engine.AVX2_NO_BF16_ENV`, set before the
child starts, since ATen, oneDNN and MKL read it once at start-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def native_and_capped(script: str, args: list[str]) -> dict[str, dict]:
    """``{"native": ..., "avx2_no_bf16": ...}``: the JSON each child printed; exits with its stderr on a failure."""
    from l2i_core.train.engine import AVX2_NO_BF16_ENV

    runs = {}
    for setting, extra in (("native", {}), ("avx2_no_bf16", AVX2_NO_BF16_ENV)):
        proc = subprocess.run([sys.executable, script, "--child", *args], env={**os.environ, **extra},
                              capture_output=True, text=True)
        line = next((s for s in proc.stdout.splitlines() if s.startswith("JSON")), None)
        if proc.returncode or line is None:
            sys.exit(f"{setting} run failed:\n{proc.stderr[-2000:]}")
        runs[setting] = json.loads(line[4:])
    return runs

#!/usr/bin/env bash
# GPU checks, run on a machine with CUDA: the CUDA tests, then the paper-preset NMF timing.
# Needs L2I_DATA (ESC-10) and the project importable (pip install -e . or PYTHONPATH=.).
set -euo pipefail
OUT="${OUT:-.}"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
python3 -m pytest -q -p no:cacheprovider tests/test_nmf.py tests/test_audio.py -k "cuda or planted or never_increases" 2>&1 | tail -5
python3 benchmarks/bench_nmf.py --gpu-only --device cuda --json "$OUT/bench_nmf_gpu.json"

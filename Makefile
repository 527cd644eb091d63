# l2i: two commands. `make reproduce` installs and runs the main job; `make test` installs and tests.
# `make test-fast` runs the unit tests only (no notebooks, no browser): under 3 minutes on 2 cores.
# The interpreter. Inside a virtual environment (or conda), its python3. Where python3 is the system's and the
# system manages it (PEP 668's EXTERNALLY-MANAGED: current Debian, Ubuntu), `make install` makes a virtual
# environment .venv here and uses it: it never writes to a system interpreter. `make ... PYTHON=...` picks one.
VENV ?= .venv
SYSTEM_MANAGED := $(shell python3 -c "import os, sys, sysconfig; print(int(sys.prefix == sys.base_prefix and os.path.exists(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED'))))" 2>/dev/null)
ifeq ($(SYSTEM_MANAGED),1)
PYTHON ?= $(VENV)/bin/python
else
PYTHON ?= python3
endif
PIP ?= $(PYTHON) -m pip
# torch's build: from the package index pip is configured with (PyPI: the CUDA build on Linux, several GB).
# On a machine without a GPU, `make install TORCH_INDEX=https://download.pytorch.org/whl/cpu` gets the CPU build
# (about 200 MB); see the README's Install section.
TORCH_INDEX ?=
TORCH_FROM = $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
# The audio is found through $(L2I_DATA), taken from the environment (see the README's Data section).
export L2I_DATA
# The pretrained weights (EfficientAT mn04) are found through $(L2I_MODELS) when it is set (see the README).
export L2I_MODELS

# `make reproduce AS_AVX2=1`: run as a CPU with AVX2 but no AVX-512 and no native bf16 (l2i_core.train.engine.AVX2_NO_BF16_ENV).
ifdef AS_AVX2
export ATEN_CPU_CAPABILITY = avx2
export ONEDNN_MAX_CPU_ISA = AVX2
export MKL_ENABLE_INSTRUCTIONS = AVX2
endif

.PHONY: install test test-fast reproduce readme lint clean

install:
	@if [ "$(PYTHON)" = "$(VENV)/bin/python" ] && [ ! -x "$(VENV)/bin/python" ]; then \
		echo "python3 is the system's (externally managed): making the virtual environment $(VENV)"; \
		python3 -m venv $(VENV); fi
	$(PIP) install -q --disable-pip-version-check $(TORCH_FROM) torch==2.13.0
	$(PIP) install -q --disable-pip-version-check -e ".[dev]"
	# the pretrained aiSFX backbone (preset aisfx): its checkpoint only; its pins (librosa 0.9.2,
	# numpy 1.23) cannot coexist with ours, so never its dependencies
	$(PIP) install -q --disable-pip-version-check --no-deps aisfx==0.1.2

test: install
	$(PYTHON) -m pytest -q

test-fast: install
	$(PYTHON) -m pytest -q -m "not notebook and not browser and not slow"

# Steps whose outputs are current are skipped; `make reproduce FORCE=1` runs every notebook again.
REPRODUCE_FLAGS = $(if $(FORCE),--force)

# The default run, as the committed reports were made: esc10 with the from-scratch CNN (preset cpu), urbanmix and
# esc50-fold4 with EfficientAT mn04 pretrained on AudioSet and fine-tuned (preset efficientat; its weights are read
# from $(L2I_MODELS)/efficientat/ or downloaded once, checked by their sha256). The data come first, one download at
# a time; then the three datasets run side by side (JOBS at once), each with THREADS torch threads: on 2 cores three
# one-thread runs end sooner than one after another with two threads. The thread count is part of what a CPU run
# computes (it changes the rounding of every trained weight), so results.json records it: `make reproduce JOBS=1
# THREADS=2` runs one after another, faster per dataset and with other last digits. The aiSFX backbone stays an
# optional preset: `l2i reproduce --dataset esc50-fold4 --preset aisfx`.
# Each notebook is one line of the log (its dataset, time and report); the last line is the total.
JOBS ?= 3
THREADS ?= 1
DEFAULT_RUN = esc10/cpu urbanmix/efficientat esc50-fold4/efficientat

reproduce: install
	@start=$$(date +%s) && \
	$(PYTHON) -m l2i_core download esc10 esc50-fold4 fsdd efficientat && \
	$(MAKE) --no-print-directory -j$(JOBS) --output-sync=line $(addprefix reproduce/,$(DEFAULT_RUN)) && \
	$(PYTHON) -m l2i_core index && \
	$(PYTHON) -m l2i_core readme && \
	echo "make reproduce: total $$(( $$(date +%s) - start )) s; reports in reports/ (open reports/index.html)"

# One dataset of the default run: `make reproduce/esc10/cpu`.
reproduce/%:
	OMP_NUM_THREADS=$(THREADS) MKL_NUM_THREADS=$(THREADS) \
	$(PYTHON) -m l2i_core reproduce --dataset $(word 1,$(subst /, ,$*)) --preset $(word 2,$(subst /, ,$*)) $(REPRODUCE_FLAGS)

readme:
	$(PYTHON) -m l2i_core readme

lint:
	$(PYTHON) -m ruff check .

clean:
	rm -rf artifacts .pytest_cache

# l2i: two commands. `make reproduce` installs and runs the main job; `make test` installs and tests.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
# The audio lives beside the repository unless L2I_DATA says otherwise.
export L2I_DATA ?= $(abspath ../shared/data)
DATASET ?= esc10
PRESET ?= cpu

.PHONY: install test reproduce lint clean

install:
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[dev]"

test: install
	$(PYTHON) -m pytest -q

# Steps whose outputs are current are skipped; `make reproduce FORCE=1` runs every notebook again.
REPRODUCE_FLAGS = --preset $(PRESET) $(if $(FORCE),--force)

reproduce: install
	$(PYTHON) -m l2i_core.pipeline reproduce --dataset $(DATASET) $(REPRODUCE_FLAGS)
	$(PYTHON) -m l2i_core.pipeline reproduce --dataset urbanmix $(REPRODUCE_FLAGS)
	$(PYTHON) -c "from l2i_core.results import write_readme_table; write_readme_table()"

lint:
	$(PYTHON) -m ruff check .

clean:
	rm -rf artifacts .pytest_cache

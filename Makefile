# Two entry points: `make demo` (train + reconstruct on the embedded MNIST: the MNIST recipe's
# 4000 steps, a few minutes on a 2-core CPU, more on a busy one, install included) and
# `make test` (TEST_WORKERS pytest processes of one thread each). Both create .venv and install
# the package with pinned torch (the CPU build) first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= runs/demo
TEST_WORKERS ?= 2

.PHONY: install test demo lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@echo "installing vqvae and its dependencies into $(VENV) (about a minute)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

test: install
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# The MNIST recipe's 4000 steps of training (it prints its plan, the time left as it goes and
# the test metrics when done), then a labelled grid of originals and reconstructions.
demo: install
	rm -rf $(DEMO_DIR)
	$(BIN)/vqvae train --out $(DEMO_DIR)
	$(BIN)/vqvae reconstruct $(DEMO_DIR) examples/digits/*.png --out-dir $(DEMO_DIR)/reconstructions
	@echo "metrics: $(DEMO_DIR)/metrics.jsonl  reconstructions: $(DEMO_DIR)/reconstructions/grid.png"

clean:
	rm -rf $(VENV) runs

# Two entry points: `make demo` (train + reconstruct on the embedded MNIST, about 4 minutes
# on a 2-core CPU, install included) and `make test`. Both create .venv and install the
# package with pinned torch (the CPU build) first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= runs/demo

.PHONY: install test demo lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@echo "installing vqvae and its dependencies into $(VENV) (about a minute)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# The MNIST recipe's 3 minutes of training (it prints the test metrics when done), then a
# labelled grid of originals and reconstructions with their PSNR.
demo: install
	rm -rf $(DEMO_DIR)
	$(BIN)/vqvae train --out $(DEMO_DIR)
	$(BIN)/vqvae reconstruct $(DEMO_DIR) examples/digits/*.png --out-dir $(DEMO_DIR)/reconstructions
	@echo "metrics: $(DEMO_DIR)/metrics.jsonl  reconstructions: $(DEMO_DIR)/reconstructions/grid.png"

clean:
	rm -rf $(VENV) runs

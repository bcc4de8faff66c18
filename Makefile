# Two entry points: `make demo` (train + evaluate + reconstruct on the embedded MNIST)
# and `make test`. Both create .venv and install the package with pinned torch first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= runs/demo
DEMO_MINUTES ?= 3

.PHONY: install test demo lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

demo: install
	$(BIN)/vqvae train --out $(DEMO_DIR) --max-minutes $(DEMO_MINUTES) --codebook-size 128 --code-dim 16
	$(BIN)/vqvae eval $(DEMO_DIR) --json
	$(BIN)/vqvae reconstruct $(DEMO_DIR) examples/digits/*.png --out-dir $(DEMO_DIR)/reconstructions
	@echo "metrics: $(DEMO_DIR)/metrics.jsonl  reconstructions: $(DEMO_DIR)/reconstructions/grid.png"

clean:
	rm -rf $(VENV) runs

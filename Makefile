# Two commands do all the set-up on a fresh clone:  `make run`  and  `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test lint readme clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# The live node: the first webcam, or the built-in synthetic scene when there is none.
# Extra flags go in ARGS, e.g.  make run ARGS="--sink file:show.mp4 --set process.canny_t1=20"
run: $(STAMP)
	$(BIN)/pix2pix-node run $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

readme: $(STAMP)
	$(BIN)/python tools/update_readme.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

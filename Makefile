# Two commands do all the set-up on a fresh clone:  `make run`  and  `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-stamp
TEST_STAMP := $(VENV)/.test-stamp

.PHONY: setup run test check lint docs tables bench soak fuzz clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The node with its fast backends (ONNX Runtime, LiteRT), NDI and the virtual camera.
$(RUN_STAMP): pyproject.toml $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $@

# Everything the tests use, TensorFlow included (TF1 checkpoints, conversion).
$(TEST_STAMP): pyproject.toml $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[all,tf,train,bench,dev]'
	touch $@ $(RUN_STAMP)

setup: $(RUN_STAMP)

# The live node: the first webcam, or the built-in synthetic scene when there is none.
# Extra flags go in ARGS, e.g.  make run ARGS="--sink file:show.mp4 --set process.canny_t1=20"
run: $(RUN_STAMP)
	$(BIN)/pix2pix-node run $(ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Everything: what CI runs (bash .ci/run), about 15 minutes on two cores.
test: lint
	$(BIN)/pytest -q

# The fast tier while you work: lint, types and every test not marked slow, under 3 minutes.
check: lint
	$(BIN)/pytest -q -m "not slow"

# The docs site (mkdocs + Material) into site/; broken links and anchors are errors.
docs: $(TEST_STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

# The benchmark: the node against its bare inference and the original app's loop (TF1), e.g.
#   make bench ARGS="--random-generator 64 --backend litert-int8 --json bench.json --plot bench.png"
bench: $(TEST_STAMP)
	$(BIN)/pix2pix-node bench $(ARGS)

# The soak: the node for a while with faults injected on a schedule, and a report, e.g.
#   make soak ARGS="--minutes 30 --json soak.json"
soak: $(RUN_STAMP)
	$(BIN)/python tools/soak.py $(ARGS)

# Coverage-guided fuzzing (atheris) of every parser of outside input, from a temporary copy of
# fuzz/corpus/; each target runs the given time, e.g.  make fuzz ARGS="--minutes 5 --target preset"
fuzz: $(TEST_STAMP)
	$(BIN)/python tools/fuzz.py $(ARGS)

# The docs' generated tables (parameters, /node/ addresses), rewritten from the code.
tables: $(RUN_STAMP)
	$(BIN)/python tools/update_docs.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

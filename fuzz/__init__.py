"""Coverage-guided fuzz targets (atheris), one module per parser of outside input.

Each module has `TestOneInput(data: bytes)` and a seed corpus in `fuzz/corpus/<module>/`;
`tools/fuzz.py` runs them (`make fuzz ARGS="--minutes N"`), `tests/test_fuzz.py` runs each for a
bounded time in CI. `fuzz/harness.py` says what counts as a crash.
"""

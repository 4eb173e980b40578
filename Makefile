# Everything a fresh clone needs, from python3 and make alone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := firmware_model protocol transport programmer emulator hil_tests

.PHONY: run test lint typecheck contracts pytest hil bench fuzz docs-figures clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

## Start the emulator on a new pty; prints the port and the programmer command to use.
run: $(STAMP)
	$(BIN)/pump-emulator --pty

## Lint, type-check, architecture contracts, then the whole pytest suite.
test: lint typecheck contracts pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/python -m pytest

## The HIL suite alone; DEVICE_URL=/dev/ttyUSB0 points it at real hardware.
hil: $(STAMP)
	$(BIN)/python -m pytest hil_tests $(if $(DEVICE_URL),--device-url $(DEVICE_URL))

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/python -m benchmarks

## Coverage-guided fuzzing of the frame and message decoders (atheris); FUZZ_RUNS to change.
fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[fuzz]'
	$(BIN)/python -m fuzz.decoder -atheris_runs=$(or $(FUZZ_RUNS),200000)

## Redraw the committed docs/timeline.png (the README's picture) from its example scenario.
docs-figures: $(STAMP)
	$(BIN)/pump-emulator simulate examples/therapy-quarter.toml --plot docs/timeline.png >/dev/null

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis build *.egg-info

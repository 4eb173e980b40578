# Everything a fresh clone needs, from python3 and make alone.
PYTHON ?= python3
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := firmware_model protocol transport rig_control timeline_drawing programmer emulator hil_tests

.PHONY: run test lint typecheck contracts pytest hil test-farm dissector bench faults fuzz docs-figures clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	@echo "==> first run: setting up $(VENV) (about a minute; later runs start at once)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> installing the project and its test tools from PyPI"
	@set -o pipefail; $(BIN)/python -m pip install --disable-pip-version-check -e '.[test]' 2>&1 \
		| tee $(VENV)/pip.log \
		| awk '/^(Collecting|Successfully installed|ERROR)/ {print "    " substr($$0, 1, 96); fflush()}' \
		|| { echo "set-up failed: the whole pip output is in $(VENV)/pip.log"; exit 1; }
	@echo "==> ready"
	@touch $(STAMP)

## Start the emulator (a new pty by default); prints the port and the programmer command to use.
## Options pass through: make run ARGS="--speed 1000 --control tcp://127.0.0.1:7001"
run: $(STAMP)
	$(BIN)/pump-emulator $(ARGS)

## Lint, type-check, architecture contracts, the whole pytest suite, then the device farm.
test: lint typecheck contracts pytest
	@$(MAKE) --no-print-directory test-farm

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

## The conformance tests through ser2net's RFC 2217 server and a labgrid place (docs/hil.md):
## installs ser2net (Debian) and .venv-labgrid first; skips in one line where they cannot be
## installed, except with CI=true. FARM_TESTS="..." picks other tests.
test-farm: $(STAMP)
	@tools/farm/install; status=$$?; \
		if [ $$status -eq 77 ]; then exit 0; elif [ $$status -ne 0 ]; then exit $$status; fi; \
		tools/farm/run

## The Wireshark dissector (tools/wireshark) under tshark; installs tshark from Debian first.
dissector: $(STAMP)
	tools/wireshark/install-tshark
	REQUIRE_TSHARK=1 $(BIN)/python -m pytest tests/test_wireshark_dissector.py

## Our figures beside pymodbus, pymavlink and a raw echo, interleaved on one socat pty pair:
## a table, and benchmarks/results.json (docs/performance.md). About 5 minutes; installs
## socat (Debian) and the bench extra first. BENCH_ARGS=--quick for a smoke run.
bench: $(STAMP)
	tools/install-socat
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

## The fault campaigns (docs/faults.md): a table, benchmarks/faults.json, exit 1 if a hard
## target is missed. FAULTS_ARGS="--quick" for a smoke run, "--only NAME" for one campaign.
faults: $(STAMP)
	$(BIN)/python -m faults $(FAULTS_ARGS)

## Coverage-guided fuzzing of the frame and message decoders (atheris); FUZZ_RUNS to change.
fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[fuzz]'
	$(BIN)/python -m fuzz.decoder -atheris_runs=$(or $(FUZZ_RUNS),200000)

## Redraw the committed docs/timeline.png (the README's picture) from its example scenario.
docs-figures: $(STAMP)
	$(BIN)/pump-emulator simulate examples/therapy-quarter.toml --plot docs/timeline.png >/dev/null

clean:
	rm -rf $(VENV) .venv-labgrid .mypy_cache .pytest_cache .ruff_cache .hypothesis build *.egg-info

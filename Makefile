# The two set-up commands of a fresh machine (see README.md):
#   make demo   install into .venv and run the main job at smoke scale
#   make test   install into .venv (with test extras) and run the test suite
#   make check  lint and format check (ruff)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test check benchmark clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"

# One stamp per extras set, rebuilt when the package metadata changes.
$(VENV)/.installed-%: pyproject.toml setup.py | $(PY)
	$(PY) -m pip install --quiet -e ".[$*]"
	touch $@

demo: $(VENV)/.installed-vizdoom,video
	$(PY) -m episodic_curiosity.demo --output_dir demo_output

# Lint and format check (ruff, configured in pyproject.toml); `ruff format .` fixes the format.
check: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(VENV)/.installed-test
	EPISODIC_CURIOSITY_REQUIRE_VIZDOOM=1 $(PY) -m pytest $(PYTEST_ARGS)

benchmark: $(VENV)/.installed-vizdoom
	$(PY) benchmarks/env_throughput.py

clean-venv:
	rm -rf $(VENV)

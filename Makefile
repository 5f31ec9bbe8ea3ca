# Two commands set everything up on a fresh machine:
#   make test   - create .venv if needed, install, lint, run the default test suite
#   make bench  - create .venv if needed, install, run the default benchmark and print its report
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU build of torch for tests and benchmarks here; setup.cfg keeps a plain torch>= requirement for GPU users.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
# The default suite runs on every core (pytest-xdist); PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?=

.PHONY: install test lint bench clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev,box2d,mujoco]"
	touch $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check adpo_rl envs agents benchmarks tests

test: $(STAMP) lint
	$(PY) -m pytest -q -m "not slow" -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run.py --algo adpo ppo --env CartPole-v1 cauchy-medium --seeds 0 --timesteps 20000 \
		--log-dir runs/bench --jobs 2 --quiet --overwrite
	$(PY) benchmarks/report.py runs/bench
	@echo "Learning curves: tensorboard --logdir runs/bench"

clean:
	rm -rf $(VENV) build *.egg-info runs .pytest_cache .ruff_cache

# Local development: `make demo` runs the main job end to end, `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: setup up down status demo test bench clean

setup: $(VENV)/.installed .env

# requirements-dev.txt = requirements.txt + the embedded Postgres and Redis (development only).
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

.env:
	cp .env.example .env

up: setup
	$(PY) scripts/stack.py up

down:
	$(PY) scripts/stack.py down

status:
	$(PY) scripts/stack.py status

demo: setup
	$(PY) scripts/demo.py

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) bench/gender_eval.py

clean: down
	rm -rf .run

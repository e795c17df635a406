# Local development: `make demo` runs the main job end to end, `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: setup up down status demo test test-deps bench clean

setup: $(VENV)/.installed .env

# requirements-dev.txt (= requirements.txt + the embedded Postgres and Redis, development only),
# then the `follower` command-line client (pyproject.toml) into .venv/bin.
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

# The browser tests drive Debian's headless Chromium through chromedriver.
test-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

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

test: setup test-deps
	$(PY) -m pytest

bench: setup
	$(PY) bench/gender_eval.py

clean: down
	rm -rf .run

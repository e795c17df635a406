"""Command line of the Airtable stand-in.

    python -m standins airtable --host 127.0.0.1 --port 8766 --token TOKEN \\
        [--base appXXXXXXXXXXXXXX ...] [--rate 5] [--penalty-seconds 30] [--log-requests]
        [--max-records-per-base N] [--max-calls-per-month N]

Prints ``airtable stand-in listening on http://HOST:PORT`` (the real port when ``--port 0``)
once the socket is bound, then serves until SIGINT/SIGTERM. Point pyairtable at it with
``Api(TOKEN, endpoint_url="http://HOST:PORT")``.
"""
import argparse
import logging
import signal
import sys
import threading

from werkzeug.serving import make_server

from .app import StandinState, create_app
from .ratelimit import RateLimiter
from .store import Store
from .usage import CallCounter


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m standins airtable``."""
    p = argparse.ArgumentParser(prog="python -m standins airtable", description="Local Airtable Web API stand-in")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8766, help="TCP port, 0 = pick a free one (default 8766)")
    p.add_argument("--token", action="append", default=[],
                   help="accepted bearer token (repeatable; none given = any non-empty token)")
    p.add_argument("--base", action="append", default=[], help="pre-create an empty base id (repeatable)")
    p.add_argument("--rate", type=int, default=5, help="requests per second per base, 0 = unlimited (default 5)")
    p.add_argument("--penalty-seconds", type=float, default=30.0,
                   help="seconds a base answers 429 after exceeding the rate (default 30)")
    p.add_argument("--table-not-found-status", type=int, choices=(403, 404), default=403,
                   help="403 INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND (default) or 404 TABLE_NOT_FOUND")
    p.add_argument("--max-records-per-base", type=int, default=None,
                   help="records a base may hold, all tables together (default: no limit); creates past it "
                        "are refused with 422 RECORD_LIMIT_EXCEEDED")
    p.add_argument("--max-calls-per-month", type=int, default=None,
                   help="API calls per token per month (default: no cap); data requests past it answer 429 "
                        "PUBLIC_API_BILLING_LIMIT_EXCEEDED")
    p.add_argument("--log-requests", action="store_true", help="log every request to stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the server until interrupted; returns the process exit code (0, or 2 on bad options)."""
    args = build_parser().parse_args(argv)
    store = Store(table_not_found_status=args.table_not_found_status, max_records_per_base=args.max_records_per_base)
    try:
        for base_id in args.base:
            store.create_base(base_id)
    except Exception as exc:  # AirtableError for a malformed id
        print(f"airtable stand-in: bad --base: {exc}", file=sys.stderr)
        return 2
    state = StandinState(store, RateLimiter(args.rate, args.penalty_seconds), set(args.token),
                         CallCounter(args.max_calls_per_month))
    if not args.log_requests:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(args.host, args.port, create_app(state), threaded=True)
    server.daemon_threads = True

    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
    print(f"airtable stand-in listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0

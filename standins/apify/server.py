"""Command line and embedding helpers of the Apify stand-in.

``python -m standins apify --host 127.0.0.1 --port 8765 --token TOKEN [--run-seconds 1.0]
[--price-per-result 0.0007] [fault options]`` serves until SIGINT/SIGTERM and prints
``apify stand-in listening on http://HOST:PORT`` once ready (port 0 picks a free port).

``BackgroundServer(config)`` runs the same server in a daemon thread (for tests and benchmarks).
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from standins.apify.app import create_app
from standins.apify.state import RUN_STATUS_FAULTS, StandinConfig


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # noqa: D102 - silence per-request logging
        pass


class BackgroundServer:
    """The stand-in served from a daemon thread. ``url`` is ``http://host:port``; call ``stop()``.

    Usable as a context manager. ``store`` gives direct access to the in-memory state.
    """

    def __init__(self, config: StandinConfig | dict | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = create_app(config)
        self.store = self.app.extensions["apify_standin"]
        self._server = make_server(host, port, self.app, threaded=True, request_handler=_QuietHandler)
        self.host, self.port = host, self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="apify-standin", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and join the thread."""
        self.store.webhooks.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "BackgroundServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``python -m standins apify``."""
    p = argparse.ArgumentParser(prog="python -m standins apify",
                                description="Local stand-in for the Apify API v2 (Instagram follower actors).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    p.add_argument("--token", default="standin-token", help="the only accepted API token")
    p.add_argument("--run-seconds", type=float, default=1.0, help="run duration READY->SUCCEEDED (default 1.0)")
    p.add_argument("--price-per-result", type=float, default=0.0007, help="USD per dataset item (default 0.0007)")
    p.add_argument("--wait-cap-seconds", type=float, default=60.0, help="server cap of waitForFinish (default 60)")
    p.add_argument("--max-memory-mbytes", type=int, default=StandinConfig.max_memory_mbytes,
                   help="account limit: combined memory of running runs (default 262144, the Scale plan)")
    p.add_argument("--max-concurrent-runs", type=int, default=StandinConfig.max_concurrent_runs,
                   help="account limit: runs going at once (default 128)")
    p.add_argument("--run-seconds-per-item", type=float, default=0.0,
                   help="a run lasts --run-seconds + items x this (default 0)")
    p.add_argument("--webhook-retry-seconds", type=float, default=1.0,
                   help="first retry delay of a failed webhook delivery; doubles (default 1.0)")
    p.add_argument("--log-requests", action="store_true", help="log every request to stderr")
    f = p.add_argument_group("fault switches (also settable at runtime: POST /_control/faults)")
    f.add_argument("--run-status", choices=RUN_STATUS_FAULTS, help="every run ends with this status")
    f.add_argument("--fail-next-runs", type=int, help="the next N runs end FAILED")
    f.add_argument("--http-429", type=int, help="the next N /v2 requests answer 429")
    f.add_argument("--http-500", type=int, help="the next N /v2 requests answer 500")
    f.add_argument("--error-item-share", type=float, help="share of source accounts that are private (0..1)")
    f.add_argument("--private-accounts", help="comma-separated source accounts that are private")
    f.add_argument("--not-found-accounts", help="comma-separated source accounts that do not exist")
    f.add_argument("--rate-limited-accounts", help="comma-separated source accounts Instagram rate-limits")
    f.add_argument("--empty-accounts", help="comma-separated public source accounts whose runs give no item")
    f.add_argument("--short-pages", action="store_true", default=None,
                   help="dataset pages return fewer items than the limit while more remain")
    f.add_argument("--page-limit-cap", type=int, help="dataset pages return at most N items")
    return p


def config_from_args(args: argparse.Namespace) -> StandinConfig:
    """StandinConfig from parsed CLI options (fault options only when given)."""
    faults = {k: getattr(args, k) for k in ("run_status", "fail_next_runs", "http_429", "http_500",
                                            "error_item_share", "short_pages", "page_limit_cap")
              if getattr(args, k) is not None}
    for key in ("private_accounts", "not_found_accounts", "rate_limited_accounts", "empty_accounts"):
        if getattr(args, key):
            faults[key] = [a for a in getattr(args, key).split(",") if a.strip()]
    return StandinConfig(token=args.token, run_seconds=args.run_seconds, price_per_result=args.price_per_result,
                         wait_cap_seconds=args.wait_cap_seconds, max_memory_mbytes=args.max_memory_mbytes,
                         max_concurrent_runs=args.max_concurrent_runs,
                         run_seconds_per_item=args.run_seconds_per_item,
                         webhook_retry_base_seconds=args.webhook_retry_seconds, faults=faults)


def main(argv: list[str]) -> int:
    """Serve the stand-in until interrupted; returns the exit code (2 on bad options)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        app = create_app(config)
    except ValueError as exc:
        parser.error(str(exc))
    handler = WSGIRequestHandler if args.log_requests else _QuietHandler
    server = make_server(args.host, args.port, app, threaded=True, request_handler=handler)

    def _stop(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    print(f"apify stand-in listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("apify stand-in stopped", file=sys.stderr, flush=True)
    return 0

"""Command line of the stand-ins.

Usage::

    python -m standins apify [--host H] [--port P] ...          # Apify API v2 stand-in
    python -m standins airtable [--host H] [--port P] ...       # Airtable Web API stand-in
    python -m standins dump-followers ACCOUNT --count N          # ground truth as JSON lines

Each sub-command owns its options; ``python -m standins <command> --help`` lists them.
"""
import sys

COMMANDS = {
    "apify": "standins.apify.server",
    "airtable": "standins.airtable.server",
    "dump-followers": "standins.followers",
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv[0]`` to the sub-command's ``main(argv[1:])``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    import importlib

    module = importlib.import_module(COMMANDS[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())

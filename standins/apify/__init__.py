"""Apify API v2 stand-in: actor runs, datasets and fault switches for the Instagram follower actors.

Modules: ``app`` (Flask app factory), ``state`` (in-memory store, config, faults), ``runs`` (run
lifecycle), ``datasets`` (lazy dataset paging), ``shapes`` (actor inputs and item shapes),
``account`` (account limits, memory refusal, run time per item), ``webhooks`` (ad-hoc webhook delivery),
``server`` (CLI and ``BackgroundServer``). Start it with ``python -m standins apify --port 0``.
"""

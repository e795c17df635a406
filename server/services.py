"""What a process needs to do its work, built from settings without connecting anything yet:
the Postgres pool, Redis, and factories for the Apify and Airtable clients."""
from __future__ import annotations

from datetime import timedelta
from functools import cached_property

import redis

from server.db import Database
from server.settings import Settings


class Services:
    """Process-wide handles; each opens its connection on first use."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.db = Database(settings.database_url, settings.db_pool_size,
                           pool_timeout=settings.db_pool_timeout_seconds,
                           check_idle_seconds=settings.db_check_idle_seconds,
                           max_lifetime_seconds=settings.db_max_connection_age_seconds)

    @cached_property
    def redis(self) -> redis.Redis:
        """Redis client (connection pool inside; connects on first command)."""
        return redis.Redis.from_url(self.settings.redis_url, socket_timeout=10,
                                    socket_connect_timeout=5, health_check_interval=30,
                                    **self.settings.redis_ssl_options())

    @cached_property
    def limiter_redis(self) -> redis.Redis | None:
        """Client of ``RATELIMIT_STORAGE_URL`` when it is a Redis other than ``REDIS_URL`` (for
        ``/health``: a limiter that cannot reach its storage lets every request through)."""
        url = self.settings.ratelimit_storage_url
        if not url or url == self.settings.redis_url or not url.startswith(("redis://", "rediss://")):
            return None
        return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5,
                                    **self.settings.redis_ssl_options(url))

    def apify(self):
        """A new ``apify_client.ApifyClient`` with explicit timeouts and retry budget."""
        from apify_client import ApifyClient

        s = self.settings
        return ApifyClient(
            s.apify_api_key,
            api_url=s.apify_api_url,
            max_retries=s.apify_max_retries,
            min_delay_between_retries=timedelta(milliseconds=500),
            timeout_short=timedelta(seconds=10),
            timeout_medium=timedelta(seconds=30),
            timeout_long=timedelta(seconds=120),
            timeout_max=timedelta(seconds=120),
        )

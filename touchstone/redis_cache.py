"""Django's Redis cache, keeping one Redis client per connection pool.

Django's own backend makes a new ``redis.Redis`` for every cache call, and building one fills a
table of a few hundred reply handlers: on a leaderboard read that makes six cache calls (two
throttles and the board), that was a third of the request's CPU time. A client holds no state
of its own beyond its pool, which hands each command a connection and is safe across threads,
so one client per pool serves every call. Behaviour is otherwise Django's.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusingClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Pools are kept for the life of the cache, so a pool's id names it.
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            # Two threads may both get here first: each makes a client on the same pool, and
            # either one serves.
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class ReusingRedisCache(RedisCache):
    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = ReusingClient

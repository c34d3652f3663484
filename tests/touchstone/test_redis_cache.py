"""The Redis cache backend keeps one client per connection pool and otherwise behaves as Django's."""

from __future__ import annotations

import threading

import pytest

from tests.services import redis_server
from touchstone.env import cache_from_url
from touchstone.redis_cache import ReusingRedisCache

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def test_a_redis_url_gives_the_reusing_backend():
    assert cache_from_url("redis://127.0.0.1:6379/1")["BACKEND"] == "touchstone.redis_cache.ReusingRedisCache"


def test_every_call_uses_one_client_and_the_cache_behaves_as_djangos(redis_url):
    cache = ReusingRedisCache(redis_url, {})
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client() is client and cache._cache.get_client(write=True) is client
    cache.set("board", {"entries": [1, 2]}, 30)
    assert cache.get("board") == {"entries": [1, 2]}
    assert cache.add("claim", 1, 30) and not cache.add("claim", 2, 30)
    assert cache.incr("claim") == 2
    cache.delete_many(["board", "claim"])
    assert cache.get("board") is None and cache.get("claim") is None


def test_threads_sharing_the_client_each_read_their_own_values(redis_url):
    cache = ReusingRedisCache(redis_url, {})
    wrong: list[str] = []

    def work(number: int) -> None:
        for turn in range(200):
            key = f"thread-{number}-{turn}"
            cache.set(key, (number, turn), 30)
            if cache.get(key) != (number, turn):
                wrong.append(key)

    threads = [threading.Thread(target=work, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert len({id(cache._cache.get_client()) for _ in range(10)}) == 1

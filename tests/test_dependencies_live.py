"""Redis killed under the application tier, on a real gunicorn with its poller: the probe sees each
check fail, the feed gets one item naming the dependants, and one when Redis is back."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.support import RedisServer, http_get, serve_store, wait_for

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

SETTINGS = "tests.testapp.settings_dependencies"


def titles(url: str) -> list[str]:
    root = ET.fromstring(http_get(url + "?format=rss").body)
    return [item.findtext("title") or "" for item in root.iter("item")]


def test_redis_killed__one_item_naming_the_dependants(tmp_path):
    server_redis = RedisServer().start()
    env = {"HEALTH_SNAPSHOT_STORE_DIR": str(tmp_path / "store"), "HEALTH_SNAPSHOT_REDIS_URL": server_redis.url}
    server = serve_store("gunicorn", env["HEALTH_SNAPSHOT_STORE_DIR"], settings=SETTINGS, **env)
    url = f"http://127.0.0.1:{server.port}/health/app/"
    redis_name = f"Redis(db=0, host='127.0.0.1', port={server_redis.port})"
    try:
        wait_for(lambda: http_get(url + "?format=json").status == 200, timeout=30, what=server.log_tail)
        server_redis.kill()

        # The probe sees every check's true state at once.
        def all_failing() -> dict | None:
            response = http_get(url + "?format=json")
            found = json.loads(response.body)
            return found if response.status == 500 and "OK" not in found.values() else None

        body = wait_for(all_failing, timeout=10, what=lambda: http_get(url + "?format=json").body)
        assert set(body) == {redis_name, "Cache(alias='default')", "Cache(alias='sessions')"}
        # The feed: one item, once the dependants had their poll (held at most their interval + timeout).
        feed = wait_for(lambda: titles(url) or None, timeout=15, what="the feed item")
        assert len(feed) == 1, feed
        item, also = feed[0].split("; also failing: ")
        assert item.startswith(f"{redis_name}: failing - Unavailable: Unable to connect to Redis"), item
        assert sorted(also.split(", ")) == ["Cache(alias='default')", "Cache(alias='sessions')"], also
        server_redis.start()
        wait_for(lambda: http_get(url + "?format=json").status == 200, timeout=15, what="recovery")
        feed = wait_for(lambda: len(f := titles(url)) > 1 and f, timeout=10, what="the recovery item")
        assert len(feed) == 2 and feed[0].startswith(f"{redis_name}: recovered after "), feed
        output = server.output
        assert "Health check Cache(alias='default'): ok -> error: " not in output, "one WARNING per cascade"
        assert f"Health check Cache(alias='default'): ok -> error (while {redis_name} fails): " in output
    finally:
        server.stop()
        server_redis.stop()

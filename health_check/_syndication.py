"""Django's feed generators, dated by their newest item so that an unchanged feed renders byte for byte.

``SyndicationFeed.latest_post_date()`` falls back to "now" for a feed without dated items: the feed's
bytes, ETag and Last-Modified would then change on every render, and a feed reader would fetch it anew.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed

__all__ = ["StableAtomFeed", "StableDates", "StableRSSFeed"]


class StableDates:
    """Feeds dated by their newest item, never by "now": an unchanged feed re-renders byte for byte.

    A feed without items (a quiet endpoint, or ``ANONYMOUS_DETAIL="status"``, which lists none) is dated
    by the feed's ``built_at``: when the endpoint's report last changed.
    """

    items: list[dict[str, Any]]
    feed: dict[str, Any]

    def latest_post_date(self) -> datetime.datetime:
        dates = [item[name] for item in self.items for name in ("updateddate", "pubdate") if item.get(name)]
        return max(dates) if dates else self.feed["built_at"]


class StableAtomFeed(StableDates, Atom1Feed):
    pass


class StableRSSFeed(StableDates, Rss201rev2Feed):
    pass

"""Generated inputs for tests and benchmarks: RSS feeds of product jobs and CSV files of readers.

Dates are derived from the clock the caller passes, never written in: a feed made for
``now`` holds items published in the hours before it, whatever day the suite runs on."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

ITEM = """<item><title>Company {f}-{i}: Senior Product Manager {i}</title>
<link>https://jobs.example.com/{f}/{i}</link><guid>https://jobs.example.com/{f}/{i}</guid>
<pubDate>{published}</pubDate><category>Product</category>
<description>&lt;p&gt;&lt;strong&gt;Location:&lt;/strong&gt; Remote (EU)&lt;/p&gt;&lt;p&gt;Own the payments API,
versioning and webhooks. Salary $150,000 - $180,000.&lt;/p&gt;&lt;ul&gt;&lt;li&gt;API design&lt;/li&gt;
&lt;li&gt;SQL&lt;/li&gt;&lt;/ul&gt;&lt;script&gt;alert(1)&lt;/script&gt;</description></item>"""

ROLES = ["product manager", "technical product manager", "product designer", "payments", "api", "data",
         "growth", "platform", "messaging", "auth", "product operations", "senior"]  # fmt: skip
PLACES = ["london", "berlin", "new york", "paris", "toronto", "dublin", "amsterdam", "lisbon", "austin", "remote"]


def make_feed(feed: int, items: int, now: datetime) -> bytes:
    """An RSS 2.0 feed of ``items`` postings, published one minute apart in the hour before
    ``now`` (so a build at ``now`` finds every one of them new)."""
    body = "".join(
        ITEM.format(f=feed, i=i, published=format_datetime(now - timedelta(minutes=1 + i % 60))) for i in range(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {feed}</title>{body}</channel></rss>'.encode()


def write_readers(path: Path, readers: int, segments: int) -> None:
    """A CSV of ``readers`` readers spread over ``segments`` distinct sets of preferences."""
    with open(path, "w", encoding="utf-8") as out:
        out.write("email,name,roles,locations,remote,seniority,audience\n")
        for n in range(readers):
            s = n % segments
            roles = f"{ROLES[s % len(ROLES)]};{ROLES[(s // len(ROLES)) % len(ROLES)]}"
            place = f"{PLACES[(s // 144) % len(PLACES)]};city {s // 1440}"
            audience = ["both", "jobs", "people"][(s // 14400) % 3]
            out.write(f"reader{n}@example.com,Reader {n},{roles},{place},{'true' if s % 2 else 'false'},,{audience}\n")

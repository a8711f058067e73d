"""View in browser (``/v/<token>``): the issue a reader was mailed, as it was mailed.

The page is the HTML part of their message, made again from the frozen issue: the segment
their delivery was queued in, their name and address, the same links. Only a message that
went out (sent, or of unknown fate) is shown. An issue's rendering is kept for the next
reader who opens theirs; only the cards a reader's segment shows are inlined."""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy import Engine

from digest.config import Config
from digest.db import session_scope
from digest.deliver import ledger
from digest.models import Issue
from digest.render.compose import Composer, load_renderer
from digest.serve.links import reader_of
from digest.tokens import Link, Signer

ISSUES_KEPT = 4


class Viewer:
    """Renders readers' issues, keeping the last few issues' composers."""

    def __init__(self, engine: Engine, config: Config, signer: Signer) -> None:
        self.engine, self.config, self.signer = engine, config, signer
        self._composers: OrderedDict[int, Composer] = OrderedDict()
        self._lock = threading.Lock()

    def html(self, link: Link) -> str | None:
        """The HTML this reader was mailed for the link's issue, or None (nobody's link, or no
        message of that issue went to them)."""
        with session_scope(self.engine) as session:
            reader = reader_of(session, link)
            issue = session.get(Issue, link.issue_id) if link.issue_id else None
            if reader is None or issue is None or reader.id is None:
                return None
            session.expunge(issue)
            reader_id = reader.id
        recipient = ledger.mailed(self.engine, link.issue_id, reader_id)
        if recipient is None:
            return None
        with self._lock:  # one rendering at a time: a composer's renderer fills in as it goes
            return self._composer(issue).email_for(recipient).html

    def _composer(self, issue: Issue) -> Composer:
        assert issue.id is not None
        found = self._composers.get(issue.id)
        if found is None:
            renderer = load_renderer(self.engine, self.config, issue, whole_pool=False)
            found = Composer(self.engine, self.config, issue, renderer, self.signer, store=False)
            self._composers[issue.id] = found
            while len(self._composers) > ISSUES_KEPT:
                self._composers.popitem(last=False)
        self._composers.move_to_end(issue.id)
        return found

"""Text relevance over a week's pool: BM25 (bm25s) on stemmed words, the title weighted.

One index per field is built once per pool; each distinct query is scored once against all of
it and kept, since many segments share their roles. Scores are scaled to 0-1 by the best
posting of the pool for that query, so they read the same whatever the pool's size.
"""

from __future__ import annotations

from collections.abc import Sequence

import bm25s
import numpy as np
from numpy.typing import NDArray

TITLE_WEIGHT = 2.0  # a word in the title counts twice a word in the body


class _Field:
    def __init__(self, documents: Sequence[tuple[str, ...]]) -> None:
        self.empty = not any(documents)
        self.size = len(documents)
        if not self.empty:
            self.index = bm25s.BM25()
            # bm25s drops empty documents' rows otherwise; a placeholder word no query holds keeps them
            self.index.index([list(d) or ["\x00"] for d in documents], show_progress=False)

    def scores(self, query: tuple[str, ...]) -> NDArray[np.float64]:
        if self.empty or not query:
            return np.zeros(self.size)
        known = [w for w in query if w in self.index.vocab_dict]
        if not known:
            return np.zeros(self.size)
        raw = np.asarray(self.index.get_scores(known), dtype=np.float64)
        best = raw.max()
        return raw / best if best > 0 else raw


class Relevance:
    """BM25 relevance of a pool's documents (title words, body words) to stemmed queries."""

    def __init__(self, titles: Sequence[tuple[str, ...]], bodies: Sequence[tuple[str, ...]]) -> None:
        self._title, self._body = _Field(titles), _Field(bodies)
        self._cache: dict[tuple[str, ...], NDArray[np.float64]] = {}

    def of(self, query: tuple[str, ...]) -> NDArray[np.float64]:
        """0-1 per document: the title's score weighted over the body's."""
        found = self._cache.get(query)
        if found is None:
            title, body = self._title.scores(query), self._body.scores(query)
            found = self._cache[query] = (TITLE_WEIGHT * title + body) / (TITLE_WEIGHT + 1)
        return found

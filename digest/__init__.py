"""digest: the weekly digest of top product people & jobs.

Ingest job feeds and new public profiles, rank them per reader, render one email
per reader and send it exactly once. The CLI (``digest``) is a thin layer over
the modules of this package; scripts can import them too.
"""

__version__ = "0.1.0"

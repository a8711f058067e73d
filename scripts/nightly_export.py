#!/usr/bin/env python3
"""Nightly export for the CRM: every subscriber and status as JSONL, written atomically.

DIGEST_DATABASE_URL=... python scripts/nightly_export.py /srv/crm/digest-subscribers.jsonl
"""

import os
import sys
from pathlib import Path

from digest.config import Settings
from digest.db import open_database
from digest.subscribers import export_rows

target = Path(sys.argv[1])
engine = open_database(Settings.from_env(os.environ).database_url)
partial = target.with_suffix(target.suffix + ".partial")
with open(partial, "w", encoding="utf-8") as out:
    out.writelines(export_rows(engine, "jsonl"))
partial.replace(target)  # readers of the file never see half an export
print(f"wrote {target}")

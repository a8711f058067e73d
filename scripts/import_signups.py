#!/usr/bin/env python3
"""Import new sign-ups from a CSV export (email,name,roles,...): report bad lines, keep the rest.

DIGEST_DATABASE_URL=... python scripts/import_signups.py signups.csv
"""

import sys
from pathlib import Path

from digest.config import Settings
from digest.db import open_database
from digest.subscribers import import_file

engine = open_database(Settings.from_env(__import__("os").environ).database_url)
report = import_file(engine, Path(sys.argv[1]))
for rejected in report.rejected:
    print(f"line {rejected['line']}: {rejected['reason']}", file=sys.stderr)
print(f"{report.added} new reader(s), {report.updated} updated, {len(report.rejected)} rejected")
sys.exit(1 if report.rejected else 0)

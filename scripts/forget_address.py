#!/usr/bin/env python3
"""A GDPR erasure request: forget an address (only a salted hash stays, so it is never mailed).

DIGEST_DATABASE_URL=... python scripts/forget_address.py person@example.com
"""

import os
import sys

from digest.config import Settings
from digest.db import open_database
from digest.errors import DigestError
from digest.subscribers import forget

engine = open_database(Settings.from_env(os.environ).database_url)
try:
    existed = forget(engine, sys.argv[1])
except DigestError as exc:
    sys.exit(f"Error: {exc}")
print("forgotten" if existed else "not on the list; suppressed from now on")

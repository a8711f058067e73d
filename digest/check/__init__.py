"""``digest check``: a preflight before a real send. Each check says what it found in one
line and passes or fails on its own; nothing is sent and nothing is stored.

    from digest.check import run_checks
    for check in run_checks(engine, config): print(check.name, check.ok, check.detail)
"""

from digest.check.run import Check, run_checks

__all__ = ["Check", "run_checks"]

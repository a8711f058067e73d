"""``digest init --sample DIR``: a folder a new user can run ``digest send`` in, with the
commented sources.yaml, the sample feeds and profiles, and the four sample readers."""

from __future__ import annotations

import shutil
from pathlib import Path

from digest.errors import InputError

HERE = Path(__file__).resolve().parent.parent
HEADER = """\
# Written by `digest init --sample`: a working start on fictional feeds and readers.
# Try it:   digest send            (mail goes to ./outbox as a Maildir; nothing leaves the machine)
# Then, for real readers: set newsletter.from to your domain, point sources: at your feeds,
# delete delivery.seed_readers, and import your list (digest subscribers import FILE).

"""


def starter_files() -> tuple[Path, Path]:
    """The shipped sources.yaml and samples/ folder: inside the installed package, or at the
    root of a clone."""
    for base in (HERE / "starter", HERE.parent):
        if (base / "sources.yaml").is_file() and (base / "samples").is_dir():
            return base / "sources.yaml", base / "samples"
    raise InputError("this installation of digest has no sample files (reinstall it with pip)")


def write_sample(folder: Path) -> list[Path]:
    """Write sources.yaml and samples/ into ``folder`` (made when missing). Nothing is
    overwritten: when either is there already, nothing is written at all."""
    sources, samples = starter_files()
    targets = [folder / "sources.yaml", folder / "samples"]
    there = [t for t in targets if t.exists()]
    if there:
        raise InputError(f"{there[0]} exists already: nothing was written (choose an empty folder)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copytree(samples, targets[1])
        targets[0].write_text(HEADER + sources.read_text(encoding="utf-8"), encoding="utf-8")
    except OSError as exc:
        shutil.rmtree(targets[1], ignore_errors=True)
        raise InputError(f"cannot write the sample into {folder}: {exc.strerror or exc}") from None
    return targets

"""A power cut, simulated: the disk keeps only what was fsync'ed.

A small LD_PRELOAD library wraps ``fsync`` and ``fdatasync``: after the real call, it copies
the synced file, as it stands, to ``<file>.durable``. That copy is what a disk that honours
fsync holds after a power cut (the kernel may have written more, but nothing later is
promised). ``cut`` then puts those copies in place of the files, drops files never synced
and the SQLite shared-memory index, as a machine coming back would find them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void keep(int fd) {
    const char *dir = getenv("DIGEST_POWERCUT_DIR");
    char link[64], path[PATH_MAX], durable[PATH_MAX + 16], partial[PATH_MAX + 24], buffer[1 << 16];
    struct stat st;
    if (!dir || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = 0;
    if (strncmp(path, dir, strlen(dir)) != 0) return;
    snprintf(durable, sizeof durable, "%s.durable", path);
    snprintf(partial, sizeof partial, "%s.partial", durable);
    int in = open(path, O_RDONLY), out = open(partial, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in >= 0 && out >= 0) {
        ssize_t got;
        while ((got = read(in, buffer, sizeof buffer)) > 0) write(out, buffer, got);
    }
    if (in >= 0) close(in);
    if (out >= 0) { close(out); rename(partial, durable); }
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fsync");
    int result = real(fd);
    if (result == 0) keep(fd);
    return result;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
    int result = real(fd);
    if (result == 0) keep(fd);
    return result;
}
"""


def build_shim(folder: Path) -> Path:
    """Compile the library with the machine's C compiler."""
    source, library = folder / "powercut.c", folder / "powercut.so"
    source.write_text(SHIM)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(library), str(source), "-ldl"], check=True,
                   capture_output=True)  # fmt: skip
    return library


def baseline(database: Path) -> None:
    """Before the cut is armed: the database as it stands is durable (the test made it, closed)."""
    shutil.copyfile(database, f"{database}.durable")


def cut(database: Path) -> dict[str, int]:
    """The machine comes back: each file as it was at its last fsync; sizes, for the record."""
    found: dict[str, int] = {}
    for suffix in ("", "-wal"):
        path, durable = Path(f"{database}{suffix}"), Path(f"{database}{suffix}.durable")
        if durable.exists():
            durable.replace(path)
            found[path.name] = path.stat().st_size
        else:
            path.unlink(missing_ok=True)
    Path(f"{database}-shm").unlink(missing_ok=True)
    for stray in database.parent.glob(f"{database.name}*.partial"):
        stray.unlink()
    return found

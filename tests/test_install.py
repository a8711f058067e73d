"""A non-editable install works from another folder, offline, on the shipped samples."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with ``pip install .``, sharing the dependencies (and the build backend)
    of the environment running the tests, whichever it is: a plain path line in a .pth file
    adds that site-packages without running its .pth files, so the editable digest stays out."""
    where = tmp_path_factory.mktemp("venv")
    venv.create(where, with_pip=True)
    site_packages = next((where / "lib").glob("python*/site-packages"))
    (site_packages / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    build = tmp_path_factory.mktemp("src") / "digest"
    shutil.copytree(ROOT, build, ignore=shutil.ignore_patterns(".git", "*.db*", "outbox", "__pycache__", "*.egg-info"))
    subprocess.run(
        [where / "bin" / "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", str(build)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return where


def test_installed_digest_ingests_the_samples_from_another_folder(installed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(ROOT / "sources.yaml", elsewhere)
    shutil.copytree(ROOT / "samples", elsewhere / "samples")
    env = {"PATH": f"{installed / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    digest = str(installed / "bin" / "digest")
    first = subprocess.run([digest, "ingest", "--json"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["new"] == 24
    second = subprocess.run([digest, "ingest", "--json"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert json.loads(second.stdout)["new"] == 0
    where = subprocess.run(
        [installed / "bin" / "python", "-c", "import digest, pathlib; print(pathlib.Path(digest.__file__).parent)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert str(ROOT) not in where, "the installed package, not the clone, must run"
    assert (Path(where) / "migrations" / "versions").is_dir()
    assert sys.prefix != str(installed)


def test_the_installed_package_has_every_module_and_sends(installed: Path, tmp_path: Path) -> None:
    """Nothing of the source tree is left out of the wheel (a stray ignore pattern once hid a
    whole stage package), and the quickstart's ``digest send`` runs from the install."""
    python = installed / "bin" / "python"
    where = Path(subprocess.run([python, "-c", "import digest, pathlib; print(pathlib.Path(digest.__file__).parent)"],
                                capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip())  # fmt: skip
    source = {p.relative_to(ROOT / "digest") for p in (ROOT / "digest").rglob("*.py") if "__pycache__" not in p.parts}
    shipped = {p.relative_to(where) for p in where.rglob("*.py") if "__pycache__" not in p.parts}
    assert source - shipped == set(), "modules missing from the installed package"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(ROOT / "sources.yaml", elsewhere)
    shutil.copytree(ROOT / "samples", elsewhere / "samples")
    env = {"PATH": f"{installed / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    sent = subprocess.run([installed / "bin" / "digest", "send", "--json"], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["sent"] > 0


def test_init_sample_gives_a_new_user_a_folder_that_sends(installed: Path, tmp_path: Path) -> None:
    """The installed package had no sources.yaml or samples: a new user had nothing to run."""
    env = {"PATH": f"{installed / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    digest = str(installed / "bin" / "digest")
    made = subprocess.run([digest, "init", "--sample", "mine"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert made.returncode == 0 and "cd mine && digest send" in made.stderr, made.stderr
    folder = tmp_path / "mine"
    assert (folder / "sources.yaml").read_text().startswith("# Written by `digest init --sample`")
    assert sorted(p.name for p in (folder / "samples").iterdir()) == sorted(
        p.name for p in (ROOT / "samples").iterdir()
    )
    sent = subprocess.run([digest, "send", "--json"], cwd=folder, env=env, capture_output=True, text=True)
    assert sent.returncode == 0 and json.loads(sent.stdout)["sent"] == 4, sent.stderr
    assert len(list((folder / "outbox" / "new").iterdir())) == 4
    again = subprocess.run([digest, "init", "--sample", "mine"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 1 and again.stderr.startswith("Error: mine/sources.yaml exists already")

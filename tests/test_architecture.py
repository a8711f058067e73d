"""The tree shows the stages: no module imports a later stage, only the ledger touches
``Delivery``, and ARCHITECTURE.md names modules that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "digest"
# Stages in the order data flows; a module imports only from its own stage or an earlier one.
LAYERS = [
    "kernel",
    "ingest",
    "build",
    "render",
    "deliver",
    "subscribers",
    "feedback",
    "serve",
    "week",
    "check",
    "schedule",
    "cli",
]


def layer_of(module: str) -> str:
    """``digest.deliver.ledger`` -> ``deliver``; a top-level module that is no stage is the kernel."""
    parts = module.split(".")
    first = parts[1] if len(parts) > 1 else ""
    if first == "__main__":  # python -m digest: the command line
        return "cli"
    return first if first in LAYERS else "kernel"


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every digest module ``path`` imports, at any depth (imports inside functions count)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("digest")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("digest"):
            for alias in node.names:  # "from digest.deliver import ledger" imports digest.deliver.ledger
                candidate = f"{node.module}.{alias.name}"
                where = ROOT / candidate.replace(".", "/")
                as_module = where.with_suffix(".py").exists() or (where / "__init__.py").exists()
                found.append((node.lineno, candidate if as_module else node.module))
    return found


def sources() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "versions" not in p.parts]


def test_layer_of_names_the_stage() -> None:
    assert layer_of("digest.deliver.ledger") == "deliver"
    assert layer_of("digest.week") == "week"
    assert layer_of("digest.config") == "kernel"
    assert layer_of("digest") == "kernel"
    assert layer_of("digest.__main__") == "cli"


def test_imports_of_reads_every_form(tmp_path: Path) -> None:
    """``import digest.x``, ``from digest.x import y`` and ``from digest import package`` all count."""
    module = tmp_path / "m.py"
    module.write_text("import digest.week\nfrom digest.serve.app import create_app\n"
                      "def f():\n    from digest import subscribers, __version__\n")  # fmt: skip
    assert [name for _, name in imports_of(module)] == [
        "digest.week", "digest.serve.app", "digest.subscribers", "digest",
    ]  # fmt: skip


def test_no_module_imports_a_later_stage() -> None:
    upward = []
    for path in sources():
        mine = LAYERS.index(layer_of(module_name(path)))
        for line, imported in imports_of(path):
            theirs = LAYERS.index(layer_of(imported))
            if theirs > mine:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert not upward, "modules import a later stage:\n" + "\n".join(upward)
    assert len(sources()) > 40, "the walk found the package"


def test_the_kernel_is_small_and_render_does_not_import_ingest() -> None:
    kernel = [p for p in sources() if layer_of(module_name(p)) == "kernel" and "migrations" not in p.parts]
    assert len(kernel) <= 16, [p.name for p in kernel]
    for path in (PACKAGE / "render").rglob("*.py"):
        assert not [i for _, i in imports_of(path) if layer_of(i) == "ingest"], path


def test_only_the_ledger_touches_delivery_rows() -> None:
    """The ``Delivery`` table is read and written by the ledger (``digest/deliver/ledger/``) alone."""
    allowed = {*(PACKAGE / "deliver" / "ledger").glob("*.py"), PACKAGE / "models.py"}
    touching = []
    for path in sources():
        if path in allowed or "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            named = (isinstance(node, ast.Name) and node.id == "Delivery") or (
                isinstance(node, ast.Attribute) and node.attr == "Delivery"
            )
            imported = isinstance(node, ast.alias) and node.name == "Delivery"
            if named or imported:
                touching.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}")
            sql = isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value
            if sql and re.search(r"\b(UPDATE|FROM|INTO)\s+delivery\b", sql, re.IGNORECASE):
                touching.append(f"{path.relative_to(ROOT)}:{node.lineno} (SQL)")  # type: ignore[attr-defined]
    assert not touching, touching


def test_architecture_md_names_modules_that_exist() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    paths = set(re.findall(r"`(digest/[\w/]*(?:\.py)?)`", text))
    dotted = set(re.findall(r"`(digest(?:\.\w+)+)`", text))
    assert len(paths) > 30, "the module map names the modules"
    missing = [p for p in paths if not (ROOT / p).exists()]
    for name in dotted:
        module = ROOT / name.replace(".", "/")
        if not (module.with_suffix(".py").exists() or (module / "__init__.py").exists()):
            missing.append(name)
    assert not missing, f"ARCHITECTURE.md names modules that do not exist: {sorted(missing)}"


def test_every_module_is_on_the_map() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(digest/[\w/]*(?:\.py)?)`", text))
    unmapped = []
    for path in sources():
        relative = str(path.relative_to(ROOT))
        if path.name == "__init__.py" or "migrations" in path.parts or "formats" in path.parts:
            continue
        if relative not in named:
            unmapped.append(relative)
    assert not unmapped, f"modules missing from ARCHITECTURE.md's map: {unmapped}"

"""The layout contracts in pyproject.toml ([tool.importlinter]): the tree keeps them, and lint-imports fails
when a forbidden import is added (the write path importing the read path, answering importing the web layer
or the CLI or evaluation, a generator importing answering, retrieval importing answering)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = str(Path(sys.executable).with_name("lint-imports"))
WRITE_PATH = "The write path (indexer) does not import the read path (searchchat)"
ANSWERING = "Answering does not import web, cli or evaluation"
GENERATORS = "Generators do not import answering"
RETRIEVAL = "Retrieval does not import answering or the generators"


def lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports with the pyproject.toml in cwd, on the packages there."""
    return subprocess.run([LINT, "--no-cache", "--no-logo"], cwd=cwd, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def python_only(folder: str, names: list[str]) -> set[str]:
    """copytree's ignore: everything but Python sources and folders (no model weights, no caches)."""
    return {n for n in names if n == "__pycache__" or not (n.endswith(".py") or Path(folder, n).is_dir())}


def test_the_tree_keeps_the_contracts() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        ("indexer/chunk.py", "searchchat.settings", WRITE_PATH),
        ("searchchat/answering/policy.py", "searchchat.cli.common", ANSWERING),
        ("searchchat/answering/cite.py", "searchchat.web.app", ANSWERING),
        ("searchchat/generators/openai.py", "searchchat.answering.prompt", GENERATORS),
        ("searchchat/retrieval/lexical.py", "searchchat.answering.policy", RETRIEVAL),
        ("searchchat/answering/prompt.py", "searchchat.evaluation.qa", ANSWERING),
    ],
)
def test_a_forbidden_import_fails(tmp_path: Path, module: str, forbidden: str, contract: str) -> None:
    for package in ("searchchat", "indexer"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=python_only)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    assert lint(tmp_path).returncode == 0  # the copy keeps them, as the tree does
    with (tmp_path / module).open("a") as f:
        f.write(f"\nimport {forbidden}  # noqa\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout
    importer = module.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> {forbidden}" in result.stdout, result.stdout

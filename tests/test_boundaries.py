"""rel_core is the domain: it must never pull in the UI."""

import subprocess
import sys


def test_rel_core_imports_no_textual():
    code = (
        "import importlib, pkgutil, sys, rel_core\n"
        "for info in pkgutil.walk_packages(rel_core.__path__, 'rel_core.'):\n"
        "    importlib.import_module(info.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rel_tui'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
    # The walk really imported the core, so an empty answer means something.
    check = subprocess.run(
        [sys.executable, "-c", code.replace("print(','.join(bad))", "print(len(sys.modules))")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(check.stdout) > 50


def test_import_linter_contract_holds(tmp_path):
    """The contract in pyproject.toml (rel_core never imports rel_tui or Textual), checked by import-linter."""
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is in the test extra"
    result = subprocess.run([lint], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_import_linter_would_catch_a_broken_contract(tmp_path):
    """The same contract, run against a copy of the core that imports Textual, fails: the check can fail."""
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    shutil.copytree(root / "rel_core", tmp_path / "rel_core", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "rel_tui").mkdir()
    (tmp_path / "rel_tui" / "__init__.py").write_text("")
    (tmp_path / "rel_core" / "leak.py").write_text("import rel_tui\n")
    (tmp_path / "pyproject.toml").write_text((root / "pyproject.toml").read_text())
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    result = subprocess.run(
        [lint], cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    )
    assert result.returncode != 0
    assert "BROKEN" in result.stdout


def test_commands_do_not_import_the_cli_that_loads_them():
    """rel_tui/commands/* take what they share from rel_tui.context: no import cycle with rel_tui.cli."""
    code = (
        "import importlib, sys\n"
        "from rel_tui.commands import MODULES\n"
        "for name in MODULES + ('rel_tui.commands.review', 'rel_tui.commands.auto_workers'):\n"
        "    importlib.import_module(name)\n"
        "print('rel_tui.cli' in sys.modules, len(MODULES))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded_cli, count = result.stdout.split()
    assert loaded_cli == "False" and int(count) >= 5

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

"""The public functions stay callable after their same-named modules are imported."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import inspect
import openai_ft
import openai_ft.evaluate.api, openai_ft.watch  # binds the modules to openai_ft.evaluate / .watch
for name in ("evaluate", "watch"):
    try:
        getattr(openai_ft, name)()
    except TypeError as exc:  # reached the function: it names its missing arguments
        assert "missing" in str(exc) and "argument" in str(exc), exc
    else:
        raise AssertionError(name)
import openai_ft as fresh
assert inspect.isfunction(fresh.alias) and inspect.isfunction(fresh.train)
print("ok")
"""


def test_evaluate_and_watch_callable_after_their_modules_load() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_first_access_returns_the_function() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import inspect, openai_ft; f = openai_ft.watch; g = openai_ft.watch; "
            "print(inspect.isfunction(f), inspect.isfunction(g))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.split() == ["True", "True"], done.stderr

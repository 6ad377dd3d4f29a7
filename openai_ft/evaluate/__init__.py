"""Evaluate models on held-out chat examples: async paced runner, scorers, statistics, batch path.

The public entry point is :func:`openai_ft.evaluate.api.evaluate` (``openai_ft.evaluate(...)``).
"""

from openai_ft._callable_module import make_callable

make_callable(__name__, "openai_ft.evaluate.api:evaluate")

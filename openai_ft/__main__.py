"""``python -m openai_ft``."""

from openai_ft.cli import run

run()

"""The plugin's fixtures for these tests, whether or not its entry point is installed yet."""

from openai_ft.pytest_plugin import (  # noqa: F401
    openai_async_client,
    openai_client,
    openai_local,
    pytest_configure,
)

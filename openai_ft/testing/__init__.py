"""Test your own openai code against the local service: no key, no network, no cost.

    from openai_ft.testing import local_openai, patch_openai

    with local_openai() as local:                   # a fresh service in a temp folder
        job = local.client.fine_tuning.jobs.create(...)
        local.finish_jobs()                         # train every queued job now

    with patch_openai() as local:                   # clients the code builds itself
        my_module.retrain()                         # its openai.OpenAI() talks to `local`

The pytest plugin (:mod:`openai_ft.pytest_plugin`, installed with the package) gives the same as
fixtures: ``openai_local``, ``openai_client``, ``openai_async_client`` and the marker
``@pytest.mark.openai_local(rpm=..., faults=[...])``.
"""

from openai_ft.local.faults import FaultRule
from openai_ft.testing._handle import BASE_URL, LocalOpenAI, ManualClock, fault_rule, local_openai
from openai_ft.testing._patch import is_patched, patch_openai
from openai_ft.testing._transport import LoggedRequest

__all__ = [
    "BASE_URL",
    "FaultRule",
    "LocalOpenAI",
    "LoggedRequest",
    "ManualClock",
    "fault_rule",
    "is_patched",
    "local_openai",
    "patch_openai",
]

"""The local service playing Azure OpenAI: the ARM deployments API and deployment-routed chat.

    svc = LocalService(home, azure=AzureOptions(arm_token="t"))   # or `openai-ft serve --azure`

With ``azure`` set the service behaves as an Azure OpenAI resource: fine-tuned ids are
``<base>.ft-<32 hex>`` (no ``ft:``), checkpoints ``ftchkpt-<32 hex>``, jobs accept
``trainingType`` and the Azure-only hyperparameters, and chat answers only through a deployment
(``model=<deployment name>``); anything else is Azure's 404 ``DeploymentNotFound``. The ARM
routes (:mod:`openai_ft.local.azure.arm`) are served in both modes.

A deployment's provisioning state advances with the service clock: ``Accepted`` for
``accept_s``, ``Creating`` for ``create_s``, then ``Succeeded``; for ``not_ready_s`` after that
it still answers as Azure does for a deployment made minutes ago (404 ``DeploymentNotFound``,
"If you created the deployment within the last 5 minutes, please wait a moment and try again").
A delete is ``Deleting`` for ``delete_s``, then the deployment is gone.
"""

from __future__ import annotations

from dataclasses import dataclass

ARM_TOKEN_ENV = "OPENAI_FT_ARM_TOKEN"


@dataclass(frozen=True)
class AzureOptions:
    """How the service plays Azure: the ARM token it accepts and how long provisioning takes.

    ``arm_token=None`` accepts any bearer token on ARM routes (a missing one is still a 401).
    """

    arm_token: str | None = None
    accept_s: float = 1.0
    create_s: float = 2.0
    not_ready_s: float = 2.0
    delete_s: float = 1.0
    location: str = "eastus"
    page_size: int = 100

    @property
    def provision_s(self) -> float:
        """Seconds from a create (or model change) to ``Succeeded``."""
        return self.accept_s + self.create_s


__all__ = ["ARM_TOKEN_ENV", "AzureOptions"]

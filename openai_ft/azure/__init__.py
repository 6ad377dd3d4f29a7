"""Azure OpenAI's control plane: deployments of fine-tuned models through ARM, in the ledger.

On Azure a fine-tuned model answers only through a deployment, which the openai SDK cannot
create. :mod:`~openai_ft.azure.target` says which account and token; :mod:`~openai_ft.azure.arm`
talks to ARM; :mod:`~openai_ft.azure.deployments` deploys once per name and records it;
:mod:`~openai_ft.azure.serving` gives an eval a deployment per fine-tuned model.
"""

from openai_ft.azure.arm import ArmClient, Deployment
from openai_ft.azure.deployments import (
    DeployResult,
    default_name,
    deploy,
    list_deployments,
    undeploy,
)
from openai_ft.azure.skus import SKUS, Sku, sku
from openai_ft.azure.target import ArmTarget, resolve_target, token_provider

__all__ = [
    "SKUS",
    "ArmClient",
    "ArmTarget",
    "DeployResult",
    "Deployment",
    "Sku",
    "default_name",
    "deploy",
    "list_deployments",
    "resolve_target",
    "sku",
    "token_provider",
    "undeploy",
]

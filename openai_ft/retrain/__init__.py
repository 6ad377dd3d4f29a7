"""``retrain``: a new version of the table, trained and promoted only if it is not worse.

    find the earlier run (ledger: job -> training file -> prepare manifest) -> prepare the new
    table with the same mapping, seed and split sizes, every example seen before pinned to its
    earlier split -> diff against the earlier split files -> train (continue from the earlier
    model, or fresh from its base) -> evaluate old and new, paired, on the fixed regression set
    (the earlier test split, as it was) and on the new test examples -> promote (set the alias)
    when the new model is not worse: non-inferiority, lower CI bound of new - old > -margin.

An example's key is its prompt (every message before the final assistant reply, or a DPO input),
normalised as the splitter groups prompts: the same key with different content is a change.
"""

from __future__ import annotations

from openai_ft.retrain.compare import SetScore, decide
from openai_ft.retrain.data import Diff, Prepared, example_key
from openai_ft.retrain.previous import Previous
from openai_ft.retrain.run import Refused, RetrainResult, retrain

__all__ = [
    "Diff",
    "Prepared",
    "Previous",
    "Refused",
    "RetrainResult",
    "SetScore",
    "decide",
    "example_key",
    "retrain",
]

"""The ``ngram`` engine: a stand-in that really learns, not a language model.

It trains, on the CPU in seconds, a softmax classifier over hashed character n-grams of the
conversation (so Chinese works as well as English) that predicts the assistant reply among those
seen in training; when replies are free-form (few repeats) it becomes nearest-neighbour retrieval
over the training prompts with a learned feature weighting. It can only ever answer with a reply
it has seen. Base models answer with :func:`openai_ft.local.engines.ngram.base.base_complete`.

Modules: ``engine`` (:class:`NGramEngine`), ``features`` (tokens, n-grams), ``data`` (examples,
design matrix), ``init`` (initial model), ``model`` (:class:`TrainedModel`, ``complete``),
``train`` (Adam, SFT and DPO steps), ``base`` (the untuned base models' answers).
"""

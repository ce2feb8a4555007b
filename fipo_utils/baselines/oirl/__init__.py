"""Prompt-OIRL reproduced on CPU: offline logs -> reward model -> query-dependent prompt choice.

Modules, in the order data flows through them: ``logs`` (correctness logs and prompt names),
``questions`` (question texts in log row order), ``table`` (the question x prompt table),
``splits`` (original and leak-free), ``embeddings`` (local sentence embeddings, cached),
``reward_model`` (gradient-boosted trees), ``selection`` (best-of-N and reference choices),
``report`` (one dataset and split end to end, ``results.json``).
"""

DATASETS = ("gsm8k", "mawps", "svamp")

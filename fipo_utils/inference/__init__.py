"""Inference (notebook 05): the optimizer rewrites each benchmark item's naive instruction.

Resolves an optimizer (a run's checkpoint, the base model, or a folder), renders the
optimizer's meta-prompt, cleans its output and flags rewrites that leak the gold answer.
Reads ``checkpoints/`` and the benchmarks; writes ``optimized/<optimizer>/<benchmark>.jsonl``.
"""

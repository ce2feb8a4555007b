"""Baselines (notebook 08): the related systems FIPO is compared with.

BPO-style rewriting, Prompt-OIRL (offline reward model and best-of-N prompt choice, in
:mod:`.oirl`) and FIPO x OIRL, scored on the same items and testers as FIPO. Reads BPO and
OIRL data and ``optimized/``; writes ``baselines/`` in the layout of ``eval/``.
"""

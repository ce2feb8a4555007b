"""Tester-feedback RL (notebook 10; not in the FIPO paper): GRPO that rewards the optimizer
with a frozen tester's answers on training items no notebook tests.

A stage above evaluation because its reward is notebook 06's scorer; it writes checkpoints
and training records in the layout of 02-04, so 05-09 read them like any strategy's.
"""

"""Evaluation (notebook 06): testers answer the naive and the optimized prompt of each item.

Answer extraction and checking per benchmark, option scoring for multiple choice, and the
per-item predictions and accuracy table (FIPO §3.1.2, Table 2). Reads ``optimized/``; writes
``eval/predictions/`` and ``eval/results.csv`` (columns in :mod:`.columns`).
"""

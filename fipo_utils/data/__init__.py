"""Data (notebooks 00 and 01): what the optimizer learns from and what it is tested on.

POP records and their validated loading, the FIPO meta-template (FIPO §2.2, Figure 2), dataset
diversification into SFT / DPO / IPL rows, the data figures, the environment report of the
tour, and the benchmark loaders with their gold answers. Reads POP and benchmark files (or
the hub); writes ``data/`` and ``tour/`` in a run folder.
"""

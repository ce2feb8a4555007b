"""Analysis (notebook 07, ``fipo figures``): our numbers beside the paper's.

The published numbers as data (Tables 2, 6 and 8), collection of one or more runs' result
files, bootstrap intervals, paper-shaped tables and the figures. Reads the files that steps
01-06 and 08 wrote (never their code); writes ``analysis/`` and ``figures/``.
"""

"""Commands: one module per ``fipo`` sub-command, each a thin shell over a stage's functions.

Every module offers ``HELP``, ``add_arguments(parser)`` and ``run(args)``; :mod:`fipo_utils.cli`
finds them by name and imports only the one that runs, so ``fipo --help`` stays fast. Reads
and writes what the stage it calls does.
"""

"""FIPO Companion: the library behind the notebooks.

Every piece of logic the notebooks show lives in a module here, so that the same code
runs in JupyterLab, under papermill, from the ``fipo`` command line and in the tests.
"""

__version__ = "0.1.0"

"""One module per ``fipo`` sub-command; see :mod:`fipo_utils.cli`."""

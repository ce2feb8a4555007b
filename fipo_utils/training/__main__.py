"""``python -m fipo_utils.training``: the training entry point (see :mod:`.launch`)."""

import sys

from fipo_utils.training.launch import main

sys.exit(main())

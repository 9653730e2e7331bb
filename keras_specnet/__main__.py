"""`python -m keras_specnet`: the `specnet` command (see `keras_specnet.cli`)."""

import sys

from keras_specnet.cli import main

sys.exit(main())

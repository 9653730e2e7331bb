import sys

from keras_specnet.cli import main

sys.exit(main())

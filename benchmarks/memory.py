"""`specnet bench memory` as a script: python benchmarks/memory.py --help."""

import argparse

from keras_specnet.bench import memory

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=memory.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    memory.add_arguments(parser)
    memory.main(parser.parse_args())

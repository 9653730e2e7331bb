"""Speed and memory of ButterflyFusion against Conv2D(n, 1): `specnet bench butterfly`.

    python benchmarks/butterfly.py --sizes 64 128 256 512 1024 --output runs/butterfly.json

See `keras_specnet/bench/butterfly.py` for what is measured.
"""

import argparse

from keras_specnet.bench import butterfly

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=butterfly.__doc__.strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    butterfly.add_arguments(parser)
    butterfly.main(parser.parse_args())

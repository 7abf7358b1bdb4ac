"""Retrains the shipped `matnet_binarized_mnist` preset (about 1 hour on 2 CPU cores).

    python applications/matnet_binarized_mnist.py --out runs/matnet_binarized_mnist [--resume]
"""

import sys

from keras_hvae.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "--recipe", "matnet_binarized_mnist", "--out", "runs/matnet_binarized_mnist", *sys.argv[1:]]))

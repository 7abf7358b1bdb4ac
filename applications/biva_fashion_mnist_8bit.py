"""Retrains the `biva_fashion_mnist_8bit` preset (about 1.5 hours on 2 CPU cores).

    python applications/biva_fashion_mnist_8bit.py --out runs/biva_fashion_mnist_8bit [--resume]
"""

import sys

from keras_hvae.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "--recipe", "biva_fashion_mnist_8bit", "--out", "runs/biva_fashion_mnist_8bit", *sys.argv[1:]]))

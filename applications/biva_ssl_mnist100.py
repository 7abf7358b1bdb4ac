"""Retrains the shipped `biva_ssl_mnist100` preset: semi-supervised BIVA on
MNIST with 100 labels, one stage of 38,000 steps (about 100 minutes on 2 CPU
cores).

    python applications/biva_ssl_mnist100.py --out runs/biva_ssl_mnist100 [--resume]
"""

import sys

from keras_hvae.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "--recipe", "biva_ssl_mnist100", "--out", "runs/biva_ssl_mnist100", *sys.argv[1:]]))

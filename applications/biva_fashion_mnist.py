"""Retrains the shipped `biva_fashion_mnist` preset in its two stages (16 epochs, then 11 from those weights with a
fresh optimizer; about 70 + 70 minutes of training at 0.25 s per step on 2 CPU cores, plus the scores).

    python applications/biva_fashion_mnist.py --out runs/biva_fashion_mnist [--resume]
"""

import sys

from keras_hvae.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "--recipe", "biva_fashion_mnist", "--out", "runs/biva_fashion_mnist", *sys.argv[1:]]))

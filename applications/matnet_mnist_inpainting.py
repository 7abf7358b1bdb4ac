"""Retrains the shipped `matnet_mnist_inpainting` preset (about 1 hour on 2 CPU cores).

    python applications/matnet_mnist_inpainting.py --out runs/matnet_mnist_inpainting [--resume]
"""

import sys

from keras_hvae.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "--recipe", "matnet_mnist_inpainting", "--out", "runs/matnet_mnist_inpainting", *sys.argv[1:]]))

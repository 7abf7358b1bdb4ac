"""The `keras-hvae` command."""

import argparse
import sys

from keras_hvae.version import __version__


def _cmd_version(args):
    print(__version__)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-hvae",
        description="Deep hierarchical VAEs in Keras 3: BIVA, LVAE, Matryoshka Networks, BIVA+LSTM.",
    )
    parser.add_argument("--version", action="version", version=f"keras-hvae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("version", help="print the package version")
    p.set_defaults(func=_cmd_version)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

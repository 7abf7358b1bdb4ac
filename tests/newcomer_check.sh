#!/usr/bin/env bash
# A newcomer's first ten minutes, as the README tells them (issue 15):
# clone the repository, run the README's install-and-demo line exactly as
# written (a fresh virtual environment, no system site-packages), list the
# presets, and check that the main job printed its scores with their labels
# and wrote its pictures.
#
#   bash tests/newcomer_check.sh [REPOSITORY [WORKDIR]]
#
# REPOSITORY: what to clone (default: this checkout's repository; a clone
# takes its committed state). WORKDIR: where (default: a new temporary
# directory). Needs PyPI (the install) and the MNIST download or cache.
# Slow (TensorFlow's wheels): tests/test_newcomer.py runs it under the
# `slow` marker; CI runs it.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
repo="${1:-$here}"
work="${2:-$(mktemp -d)}"
fail() { echo "newcomer check FAILED: $*" >&2; exit 1; }

git clone -q "$repo" "$work/keras_hvae"
cd "$work/keras_hvae"

# The README's line, word for word.
line="$(grep -m1 -E '^python3 -m venv \.venv && .*keras-hvae demo --out demo' README.md)" \
    || fail "README.md has no install-and-demo line"
echo "+ $line"
start=$SECONDS
bash -c "$line" > demo.out 2> demo.err || { tail -n 30 demo.err >&2; fail "the README's line exited non-zero"; }
echo "install and demo: $((SECONDS - start)) s"

# The scores, with their labels, for every MNIST preset.
for word in preset ELBO IWAE "test digits" biva_binarized_mnist matnet_binarized_mnist "standard error"; do
    grep -q -- "$word" demo.out || { cat demo.out >&2; fail "the demo's output lacks '$word'"; }
done
grep -q "Pictures and scores in demo/" demo.out || fail "the demo does not say where its pictures are"
# The progress lines are labelled with the preset and the bound.
grep -q "biva_binarized_mnist IWAE k=" demo.err || fail "unlabelled progress: $(tail -n 3 demo.err)"
# The pictures and the scores file.
for name in biva_binarized_mnist matnet_binarized_mnist; do
    for kind in samples reconstructions kl; do
        f="demo/${name}_${kind}.png"
        [ -s "$f" ] || fail "$f was not written"
        [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = "211PNG" ] || fail "$f is not a PNG"
    done
done
.venv/bin/python -c "import json; d = json.load(open('demo/demo_scores.json')); \
assert all(v['measured_now']['test_elbo'] < 0 for v in d.values()), d" || fail "demo_scores.json"

# The presets table, in 100 columns.
.venv/bin/keras-hvae presets > presets.out || fail "keras-hvae presets exited non-zero"
for name in biva_binarized_mnist matnet_binarized_mnist biva_ssl_mnist100 biva_lstm_fortunes; do
    grep -q "$name" presets.out || fail "keras-hvae presets does not list $name"
done
echo "newcomer check passed in $SECONDS s ($work/keras_hvae)"

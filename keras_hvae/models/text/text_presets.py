"""The shipped text preset and the fortunes recipes (data only;
docs/text_experiment.md).

The paper's Appendix D trains on BookCorpus (20,000 words, sentences of at
most 40 words, OOV sentences filtered), batches of 512, Adamax at 2e-3, 5
epochs, free bits with a 30-nat budget lowered on plateau. The recipes here
keep everything but the sizes (`text_architectures`): Debian's fortunes
(about 13.6k training sentences after a 10,000-token vocabulary,
lower-casing, punctuation split off and OOV filtering), batches of 64, each
capped at under an hour of CPU (`time_limit_s`). An "epoch" is 100 steps of
an endlessly repeated, reshuffled training split, so that the validation
bound that drives the free-bits schedule is measured every 100 steps.

| recipe | architecture |
|---|---|
| `biva_lstm_fortunes` | `biva_lstm_cpu` |
| `biva_text_fortunes` | `biva_text_cpu` |
| `rnn_vae_fortunes` | `rnn_vae_cpu` |
| `rnn_vae_free_bits_fortunes` | `rnn_vae_free_bits_cpu` |
| `lstm_lm_fortunes` | `lstm_lm_cpu` |
"""

from keras_hvae.models.text.text_architectures import ARCHITECTURES

PRESETS = {"biva_lstm_fortunes": "biva_lstm_fortunes"}

#: The corpus settings shared by every fortunes recipe.
FORTUNES = dict(max_tokens=10000, max_length=40, standardize="lower_and_split_punctuation", oov="filter", seed=0,
                length_multiple=8, bucket_boundaries=[8, 16, 24, 32])

_RECIPE_ARCHITECTURES = {
    "biva_lstm_fortunes": "biva_lstm_cpu",
    "biva_text_fortunes": "biva_text_cpu",
    "rnn_vae_fortunes": "rnn_vae_cpu",
    "rnn_vae_free_bits_fortunes": "rnn_vae_free_bits_cpu",
    "lstm_lm_fortunes": "lstm_lm_cpu",
}


def _fortunes_recipe(architecture, eval_limit=200, time_limit_s=3300):
    cls_name, arguments = ARCHITECTURES[architecture]
    recipe = {
        "model": {"class": cls_name, "arguments": dict(arguments, seed=0)},
        "dataset": "fortunes",
        "dataset_options": dict(FORTUNES),
        "batch_size": 64,
        "epochs": 300,
        "steps_per_epoch": 100,
        "time_limit_s": time_limit_s,
        "optimizer": {"class_name": "keras_hvae>Adamax", "config": {"learning_rate": 2e-3}},
        # Deliberately below the image protocol (IWAE k = 1,000 on 1,000 examples): every importance
        # sample reruns the LSTM decoder over the whole sentence, so the end-of-training bounds stay within
        # minutes of the recipe's one-hour budget with k = 100 on `eval_limit` (200) test sentences drawn
        # uniformly at random from the whole split (seed 0; the IWAE on all of them). The whole split is
        # scored by `text_scores` (Table 7's columns).
        "iwae_samples": 100,
        "eval_limit": eval_limit,
        "iwae_limit": None,
        "metadata": {
            "description": f"{cls_name} ({architecture}) on Debian fortunes",
            "paper": "Maaloe et al. 2019, BIVA, Appendix D / Table 7",
            "notes": "test_elbo / test_iwae are nats per sentence, IWAE k = 100 on 200 test sentences drawn "
                     "at random (seed 0): fewer than the image protocol's 1,000 x 1,000 because each importance "
                     "sample reruns the LSTM decoder; text_scores hold Table 7's columns "
                     "(nll bound, kl, perplexity per word incl. EOS) on the whole test split.",
        },
    }
    if cls_name == "BIVALSTM":  # the BIVA network of the model (revision 2: the authors' two inference paths)
        recipe["metadata"]["architecture_revision"] = 2
    if "free_bits_budget" in arguments:
        recipe["free_bits_plateau"] = {"monitor": "val_loss", "factor": 0.5, "patience": 2}
    return recipe


#: Training time per recipe where it is not the hour's default. BIVA+LSTM (revision 2, ~0.22 s a step on the
#: 2-core reference machine) first ran for 3,300 s with a loss-spike guard that still skipped the batches of
#: long sentences (a quarter of the updates): its validation ELBO was best near epoch 70 (-62.6 nats) and then
#: fell while the training bound kept rising (-66.3 at epoch 120), overfitting the 13.6k training sentences.
#: With the guard fixed the recipe stops at 1,500 s; the shipped run (43 epochs, beside a test suite) was
#: still improving there (validation -62.05), so a longer run may do better; the hour was not re-tried.
_TIME_LIMITS = {"biva_lstm_fortunes": 1500}

RECIPES = {name: _fortunes_recipe(arch, time_limit_s=_TIME_LIMITS.get(name, 3300))
           for name, arch in _RECIPE_ARCHITECTURES.items()}

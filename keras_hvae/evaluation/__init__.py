"""Evaluation helpers: likelihood bounds, anomaly detection, plots."""

from keras_hvae.evaluation.anomaly import (  # noqa: F401
    anomaly_auroc,
    anomaly_scores,
    auprc,
    auroc,
    auroc_stderr,
    detection_metrics,
    fpr_at_tpr,
    likelihood_ratio_scores,
    likelihood_ratios,
    plot_anomaly_histograms,
)
from keras_hvae.evaluation.kl_tracking import KLTracker, plot_kl_stack  # noqa: F401
from keras_hvae.utils.progress import Progress  # noqa: F401
from keras_hvae.evaluation.protocol import (  # noqa: F401
    protocol_indices,
    random_subset,
    score_preset_protocol,
    standard_error,
)
from keras_hvae.evaluation.structured_prediction import (  # noqa: F401
    quadrant_nll,
    structured_prediction_scores,
    structured_prediction_table,
)

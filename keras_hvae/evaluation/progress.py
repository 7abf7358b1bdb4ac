"""`Progress`, the labelled progress line, now lives in
`keras_hvae.utils.progress` (the models report progress too, and models sit
below evaluation); this name is kept for existing imports.

Example:
>>> from keras_hvae.utils.progress import Progress as P
>>> Progress is P
True
"""

from keras_hvae.utils.progress import Progress  # noqa: F401

"""Presets on disk: `config.json`, `metadata.json`, `model.weights.h5`, `assets/`.

keras-hub's layout. `from_preset` resolves a shipped name, a local
directory, an http(s) URL of a `.tar.gz`/`.zip` archive of a preset
directory (through `keras.utils.get_file`) or `hf://owner/repo` (through
`huggingface_hub`, where installed), verifies the sha256 of the weights
recorded in `metadata.json`, and rebuilds the model.
"""

import datetime
import hashlib
import json
import os
import platform
from pathlib import Path

import keras

from keras_hvae.utils import registry

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
ASSETS_DIR = "assets"


class PresetError(ValueError):
    """A preset could not be found, verified or loaded."""


def sha256_of(path, chunk=1 << 20):
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def _read_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise PresetError(f"{what}: {path} is missing; a preset directory holds "
                          f"{CONFIG_FILE}, {METADATA_FILE} and {WEIGHTS_FILE}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PresetError(f"{what}: {path} is not valid JSON ({e}); the preset is corrupt.") from None


def shipped_presets():
    """`{name: metadata}` of every registered preset (each family registers
    its own with `keras_hvae.utils.registry.register_presets`)."""
    out = {}
    for name, spec in registry.presets().items():
        try:
            out[name] = _read_json(spec["path"] / METADATA_FILE, f"preset {name!r}")
        except PresetError:
            continue
    return out


def _download_url(url):
    name = url.rstrip("/").split("/")[-1]
    if not name.endswith((".tar.gz", ".tgz", ".zip", ".tar")):
        raise PresetError(f"A preset URL must point to a .tar.gz, .tgz, .tar or .zip archive of a preset directory; got {url}.")
    # The cache is keyed by the whole URL (not just the file name), so two
    # presets with the same archive name never shadow each other.
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    # KERAS_HOME is read now, not when Keras was imported, so that a process
    # (or a test) that sets it afterwards gets its own cache.
    home = os.environ.get("KERAS_HOME") or None
    if home:  # get_file falls back to /tmp/.keras for a directory that does not exist yet
        os.makedirs(os.path.expanduser(home), exist_ok=True)
    cache = Path(
        keras.utils.get_file(fname=name, origin=url, extract=True, cache_subdir=f"keras_hvae_presets/{key}",
                             cache_dir=home)
    )
    candidates = [cache] + [p.parent for p in cache.rglob(CONFIG_FILE)]
    for c in candidates:
        if (c / CONFIG_FILE).is_file():
            return c
    raise PresetError(f"The archive at {url} (extracted to {cache}) holds no {CONFIG_FILE}.")


def _download_hf(handle):
    try:
        import huggingface_hub
    except ImportError:
        raise PresetError("hf:// presets need the `huggingface_hub` package: pip install huggingface_hub") from None
    repo = handle[len("hf://"):].strip("/")
    return Path(huggingface_hub.snapshot_download(repo_id=repo))


def resolve_preset(preset):
    """A local directory for a preset name, path, URL or `hf://` handle.

    Raises:
        PresetError: for an unknown name (listing the known ones).
    """
    preset = str(preset)
    if preset.startswith(("http://", "https://")):
        return _download_url(preset)
    if preset.startswith("hf://"):
        return _download_hf(preset)
    local = Path(preset).expanduser()
    if local.is_dir():
        return local
    registered = registry.presets()
    if preset in registered:
        return registered[preset]["path"]
    known = ", ".join(sorted(registered)) or "(none shipped)"
    raise PresetError(
        f"Unknown preset {preset!r}: not a shipped preset, a local directory, an "
        f"http(s) URL or an hf:// handle. Shipped presets: {known}."
    )


def load_preset(preset, load_weights=True, expected_class=None, precision=None):
    """Builds the model of a preset and loads (and verifies) its weights.

    `precision` (`"float32"` or `"bfloat16"`; None: the active Keras dtype
    policy) is the precision the model computes in: the model is
    constructed and built inside `precision_scope(precision)`. Variables
    stay float32 in both, so the same weights file loads in either.
    """
    from keras_hvae.utils.precision import canonical_precision, precision_scope

    if precision is not None:
        precision = canonical_precision(precision)  # a bad name fails before any download
    registry.load_families()  # every family's classes are deserializable
    directory = resolve_preset(preset)
    config = _read_json(directory / CONFIG_FILE, f"preset {preset!r}")
    metadata = _read_json(directory / METADATA_FILE, f"preset {preset!r}")
    with precision_scope(precision):
        model = _build_preset_model(preset, directory, config, metadata, load_weights, expected_class,
                                    build=precision is not None)
    return model


def _build_preset_model(preset, directory, config, metadata, load_weights, expected_class, build):
    try:
        model = keras.saving.deserialize_keras_object(config)
    except Exception as e:
        raise PresetError(f"preset {preset!r}: {directory / CONFIG_FILE} does not describe a "
                          f"keras_hvae model ({type(e).__name__}: {e}).") from e
    if expected_class is not None and not isinstance(model, expected_class):
        raise PresetError(
            f"preset {preset!r} holds a {type(model).__name__}, not a {expected_class.__name__}; "
            f"load it with keras_hvae.applications.{type(model).__name__}.from_preset."
        )
    model.preset_metadata = metadata
    weights = directory / WEIGHTS_FILE
    if load_weights:
        if not weights.is_file():
            raise PresetError(f"preset {preset!r}: {weights} is missing.")
        expected = metadata.get("weights_sha256")
        actual = sha256_of(weights)
        if expected and expected != actual:
            raise PresetError(
                f"preset {preset!r}: the sha256 of {weights} is {actual}, but metadata.json "
                f"records {expected}; the file is corrupt or does not belong to this preset."
            )
    if build or load_weights:
        # Sublayers created in `build()` take the dtype policy active now.
        model.build()
    if load_weights:
        try:
            model.load_weights(weights)
        except Exception as e:
            raise PresetError(f"preset {preset!r}: could not load {weights} ({type(e).__name__}: {e}).") from e
    if hasattr(model, "load_preset_assets"):
        model.load_preset_assets(directory / ASSETS_DIR)
    return model


def save_preset(model, directory, metadata=None):
    """Writes `model` as a preset directory; returns the metadata written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.build()
    config = keras.saving.serialize_keras_object(model)
    # A preset describes the model, not how it was compiled for training.
    config.pop("compile_config", None)
    # The twin below is built from the full config; the file gets the
    # model's preset form (e.g. assets referred to, not repeated).
    file_config = model.preset_config(json.loads(json.dumps(config))) if hasattr(model, "preset_config") else config
    with open(directory / CONFIG_FILE, "w", encoding="utf-8") as f:
        json.dump(file_config, f, indent=2)
    weights = directory / WEIGHTS_FILE
    if getattr(model, "optimizer", None) is not None:
        # A preset carries the model's weights, not the optimizer's state:
        # save them from an uncompiled twin.
        twin = keras.saving.deserialize_keras_object(config)
        twin.build()
        twin.set_weights(model.get_weights())
        twin.save_weights(weights)
    else:
        model.save_weights(weights)
    if hasattr(model, "save_preset_assets"):
        model.save_preset_assets(directory / ASSETS_DIR)
    meta = dict(getattr(model, "preset_metadata", None) or {})
    meta.update(metadata or {})
    meta.update(
        {
            "class_name": type(model).__name__,
            "keras_hvae_version": _version(),
            "keras_version": keras.__version__,
            "backend": keras.backend.backend(),
            "parameters": int(model.count_params()),
            "weights_sha256": sha256_of(weights),
            "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(),
        }
    )
    with open(directory / METADATA_FILE, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
    return meta


def _version():
    from keras_hvae.version import __version__

    return __version__


class classproperty:
    def __init__(self, fn):
        self.fn = fn

    def __get__(self, obj, owner):
        return self.fn(owner)


class PresetMixin:
    """`from_preset`, `presets` and `save_to_preset` for every model class."""

    @classproperty
    def presets(cls):
        """`{name: metadata}` of the shipped presets this class can load."""
        metadata = shipped_presets()
        return {name: metadata[name] for name, spec in registry.presets().items()
                if name in metadata and issubclass(spec["class"], cls)}

    @classmethod
    def from_preset(cls, preset, load_weights=True, precision=None):
        """Builds a model from a preset.

        Args:
            preset: a shipped preset name (see `cls.presets`), a local preset
                directory, an http(s) URL of a preset archive, or
                `hf://owner/repo`.
            load_weights: load (and sha256-verify) the trained weights.
            precision: `"float32"` or `"bfloat16"` (Keras' `mixed_bfloat16`
                policy: bfloat16 compute, float32 variables); the model is
                constructed and built under it (see
                `keras_hvae.utils.precision.precision_scope`). None: the
                active Keras dtype policy (float32 unless changed). The
                precision a preset was trained in is `preset_metadata
                ["precision"]`; any preset loads in either precision.

        Returns:
            The model, with its `preset_metadata` attached.

        Raises:
            PresetError (a ValueError): unknown name, missing or corrupt file,
                sha256 mismatch, or a preset of another class.
            ValueError: an unknown `precision`, naming the allowed ones.

        Example (not run by the docstring tests: the package docstring
        loads the same preset):
        >>> model = keras_hvae.applications.BIVA.from_preset("biva_binarized_mnist")  # doctest: +SKIP
        >>> fast = keras_hvae.applications.BIVA.from_preset("biva_binarized_mnist", precision="bfloat16")  # doctest: +SKIP
        """
        return load_preset(preset, load_weights=load_weights, expected_class=cls, precision=precision)

    def save_to_preset(self, preset_dir, metadata=None):
        """Writes this model as a preset directory (keras-hub's layout).

        Args:
            preset_dir: the directory to write.
            metadata: extra entries for `metadata.json` (dataset, recipe,
                `scores`, ...); versions, parameter count and the weights'
                sha256 are added.

        Returns:
            The metadata written.
        """
        return save_preset(self, preset_dir, metadata)

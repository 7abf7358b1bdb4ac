"""Presets on disk: `config.json`, `metadata.json`, `model.weights.h5`, `assets/`.

keras-hub's layout. `from_preset` resolves a shipped name, a local
directory, an http(s) URL of a `.tar.gz`/`.zip` archive of a preset
directory (through `keras.utils.get_file`) or `hf://owner/repo` (through
`huggingface_hub`, where installed), verifies the sha256 of the weights
recorded in `metadata.json`, and rebuilds the model. A URL preset is
downloaded into a temporary directory, verified, and only then renamed
into its cache entry: a failed or corrupt download leaves nothing behind.
"""

import datetime
import hashlib
import json
import os
import platform
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import zipfile
import zlib
from pathlib import Path

import keras

from keras_hvae.utils import registry
from keras_hvae.utils.atomic_files import remove_older_than

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
ASSETS_DIR = "assets"
#: The dtypes a preset's weights file may store its float arrays in. The
#: model's variables are float32 either way: `load_weights` casts them.
WEIGHTS_DTYPES = ("float32", "float16")


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


# ------------------------------------------------------------ downloads
#: How long a temporary download dir of another process may sit in the cache
#: before a later download takes it for the leftover of a killed process.
_STALE_PARTIAL_SECONDS = 3600
_PARTIAL_SUFFIX = ".partial"


def presets_cache_dir():
    """Where URL presets are cached: `$KERAS_HOME/keras_hvae_presets`
    (`~/.keras/keras_hvae_presets` when `KERAS_HOME` is unset; read at
    download time, not when Keras was imported)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home).expanduser() / "keras_hvae_presets"


def _archive_name(url):
    name = urllib.parse.urlsplit(url).path.rstrip("/").split("/")[-1]
    if not name.endswith((".tar.gz", ".tgz", ".zip", ".tar")):
        raise PresetError(f"A preset URL must point to a .tar.gz, .tgz, .tar or .zip archive of a preset "
                          f"directory; got {url}.")
    return name


def url_failure_reason(e):
    """What went wrong, in words, when `keras.utils.get_file` raised `e`
    ("the server answered HTTP 404 Not Found", "the host is unreachable
    (...)", ...).

    get_file re-raises urllib's errors as a bare `Exception("URL fetch
    failure ...")`; the urllib error is its `__context__`.
    """
    cause = e
    for candidate in (e, e.__context__, e.__cause__):
        if isinstance(candidate, urllib.error.URLError):
            cause = candidate
            break
    if isinstance(cause, urllib.error.HTTPError):
        what = f"the server answered HTTP {cause.code} {cause.reason}"
    elif isinstance(cause, urllib.error.ContentTooShortError):
        what = "the download was cut short (truncated: fewer bytes than the server announced)"
    elif isinstance(cause, urllib.error.URLError):
        what = f"the host is unreachable ({cause.reason})"
    elif isinstance(cause, (TimeoutError, ConnectionError, OSError)):
        what = f"the connection failed ({type(cause).__name__}: {cause})"
    else:
        what = f"{type(cause).__name__}: {cause}"
    return what


def _fetch_error(url, e):
    """A PresetError saying why `keras.utils.get_file` could not fetch `url`."""
    return PresetError(f"Downloading the preset {url} failed: {url_failure_reason(e)}.")


def _looks_like_html(head):
    head = head.lstrip()
    return head.startswith(b"<")  # no archive starts with "<" (gzip: 1f 8b, zip: "PK")


def _extract_archive(archive, dest, url):
    """Extracts `archive` completely into `dest`, or raises a PresetError
    saying what is wrong with it (HTML page, not an archive, truncated)."""
    with open(archive, "rb") as f:
        head = f.read(512)
    if not head:
        raise PresetError(f"The preset archive at {url} is empty (0 bytes).")
    if _looks_like_html(head):
        raise PresetError(f"{url} served an HTML page, not a preset archive "
                          f"(it starts with {head[:40].decode('utf-8', 'replace')!r}).")
    dest.mkdir(parents=True, exist_ok=True)
    if archive.name.endswith(".zip"):
        try:
            with zipfile.ZipFile(archive) as zf:
                bad = zf.testzip()  # reads every member: catches truncation and bit flips
                if bad is not None:
                    raise PresetError(f"The preset archive at {url} is corrupt: the CRC of {bad} does not match.")
                root = dest.resolve()
                for member in zf.namelist():
                    if not (dest / member).resolve().is_relative_to(root):
                        raise PresetError(f"The preset archive at {url} holds {member!r}, a path outside "
                                          "the archive; refusing to extract it.")
                zf.extractall(dest)
        except zipfile.BadZipFile as e:
            raise PresetError(f"The preset archive at {url} is not a zip archive, or is truncated ({e}).") from None
        except (EOFError, OSError, zlib.error) as e:
            raise PresetError(f"The preset archive at {url} is truncated or corrupt "
                              f"({type(e).__name__}: {e}).") from None
        return
    kind = "tar" if archive.name.endswith(".tar") else "gzip-tar"
    if kind == "gzip-tar" and head[:2] != b"\x1f\x8b":
        raise PresetError(f"The preset archive at {url} is not a gzip-tar archive (it does not start "
                          f"with the gzip magic bytes; got {head[:8]!r}).")
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(dest, filter="data")  # reads to the end: a truncated stream fails here
    except tarfile.FilterError as e:
        raise PresetError(f"The preset archive at {url} holds an unsafe member ({e}); refusing to extract it.") from None
    except EOFError as e:
        raise PresetError(f"The preset archive at {url} is truncated ({e}).") from None
    except (tarfile.TarError, zlib.error, OSError) as e:
        if "unexpected end of data" in str(e) or "truncated" in str(e).lower():
            raise PresetError(f"The preset archive at {url} is truncated ({e}).") from None
        raise PresetError(f"The preset archive at {url} is not a {kind} archive, or is corrupt "
                          f"({type(e).__name__}: {e}).") from None


def _preset_root(extracted, url):
    """The directory of the archive that holds config.json (the shallowest)."""
    found = sorted((p.parent for p in extracted.rglob(CONFIG_FILE) if p.is_file()),
                   key=lambda p: len(p.parts))
    if not found:
        raise PresetError(f"The preset archive at {url} holds no {CONFIG_FILE}; a preset archive holds a "
                          f"directory with {CONFIG_FILE}, {METADATA_FILE} and {WEIGHTS_FILE}.")
    return found[0]


def check_preset_files(directory, source, check_sha256=True):
    """Checks that `directory` is a complete preset: config.json,
    metadata.json (valid JSON) and the weights exist, and (with
    `check_sha256`) the weights' sha256 matches the one metadata.json
    records, when it records one.

    Raises:
        PresetError: naming `source` (the URL or path) and what is wrong.
    """
    directory = Path(directory)
    for name in (CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE):
        if not (directory / name).is_file():
            raise PresetError(f"The preset at {source} is incomplete: {name} is missing (a preset holds "
                              f"{CONFIG_FILE}, {METADATA_FILE} and {WEIGHTS_FILE}).")
    metadata = _read_json(directory / METADATA_FILE, f"preset {source}")
    if not isinstance(metadata, dict):
        raise PresetError(f"The preset at {source}: {METADATA_FILE} is not a JSON object.")
    expected = metadata.get("weights_sha256")
    if check_sha256 and expected:
        actual = sha256_of(directory / WEIGHTS_FILE)
        if actual != expected:
            raise PresetError(f"The preset at {source} failed its integrity check: sha256 mismatch for "
                              f"{WEIGHTS_FILE}, expected {expected} (metadata.json), got {actual}.")
    return metadata


def _download_url(url, verify=True):
    """Downloads, verifies and caches the preset archive at `url`; returns
    the cached preset directory.

    The archive is fetched (with `keras.utils.get_file`) into a temporary
    directory next to the cache entry, extracted completely and checked
    (config.json, metadata.json and the weights present; the weights'
    sha256 equal to metadata.json's, unless `verify=False`); only then is
    the preset directory renamed into place. On any failure the temporary
    directory goes, so nothing half-downloaded is ever taken from the
    cache and a retry downloads afresh.
    """
    name = _archive_name(url)
    # The cache is keyed by the whole URL (not just the file name), so two
    # presets with the same archive name never shadow each other.
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    cache = presets_cache_dir()
    final = cache / key
    if final.is_dir():
        try:
            check_preset_files(final, url, check_sha256=False)  # load_preset checks the sha256
            return final
        except PresetError:
            # not a complete preset (e.g. left by an older keras_hvae, which
            # cached the raw archive): download it again
            shutil.rmtree(final, ignore_errors=True)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=_PARTIAL_SUFFIX, dir=cache))
    except OSError as e:
        raise PresetError(f"Cannot download the preset {url}: the cache directory {cache} is not writable "
                          f"({e}); set $KERAS_HOME to a writable directory.") from None
    try:
        remove_older_than(cache, f".{key}.*{_PARTIAL_SUFFIX}", _STALE_PARTIAL_SECONDS)
        try:
            archive = Path(keras.utils.get_file(fname=name, origin=url, extract=False, cache_dir=str(tmp),
                                                cache_subdir="download"))
        except Exception as e:  # noqa: BLE001 (get_file raises a bare Exception for URL errors)
            raise _fetch_error(url, e) from None
        if not archive.is_file() or not archive.resolve().is_relative_to(tmp.resolve()):
            raise PresetError(f"Downloading the preset {url} failed: the file did not arrive in {tmp}.")
        extracted = tmp / "extracted"
        _extract_archive(archive, extracted, url)
        root = _preset_root(extracted, url)
        check_preset_files(root, url, check_sha256=verify)
        try:
            os.rename(root, final)
        except OSError:
            if not (final / CONFIG_FILE).is_file():  # not a concurrent download of the same URL
                raise
    except OSError as e:
        raise PresetError(f"Downloading the preset {url} into {cache} failed ({type(e).__name__}: {e}).") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _download_hf(handle):
    try:
        import huggingface_hub
    except ImportError:
        raise PresetError("hf:// presets need the `huggingface_hub` package: pip install huggingface_hub") from None
    repo = handle[len("hf://"):].strip("/")
    try:
        # huggingface_hub downloads to `.incomplete` files and renames them:
        # an interrupted download is resumed, never taken for a complete one.
        directory = Path(huggingface_hub.snapshot_download(repo_id=repo))
    except Exception as e:  # noqa: BLE001 (any hub or network error becomes a PresetError)
        raise PresetError(f"Downloading the preset {handle} from the Hugging Face Hub failed "
                          f"({type(e).__name__}: {e}).") from None
    check_preset_files(directory, handle, check_sha256=False)  # load_preset checks the sha256
    return directory


def resolve_preset(preset, verify=True):
    """A local directory for a preset name, path, URL or `hf://` handle.

    A URL is downloaded (and verified, see `_download_url`) into
    `presets_cache_dir()` the first time.

    Raises:
        PresetError: for an unknown name (listing the known ones), and for
            every network, archive and integrity failure of a download
            (naming the URL and what was wrong).
    """
    preset = str(preset)
    if preset.startswith(("http://", "https://")):
        return _download_url(preset, verify=verify)
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


def load_preset(preset, load_weights=True, expected_class=None, precision=None, verify=True):
    """Builds the model of a preset and loads (and verifies) its weights.

    With `verify=True` (the default) the weights load only when
    metadata.json records their sha256 (`weights_sha256`) and the file
    matches it; `verify=False` loads them without that check (for a
    hand-made preset that records none).

    `precision` (`"float32"` or `"bfloat16"`; None: the active Keras dtype
    policy) is the precision the model computes in: the model is
    constructed and built inside `precision_scope(precision)`. Variables
    stay float32 in both, so the same weights file loads in either.
    """
    from keras_hvae.utils.precision import canonical_precision, precision_scope

    if precision is not None:
        precision = canonical_precision(precision)  # a bad name fails before any download
    registry.load_families()  # every family's classes are deserializable
    directory = resolve_preset(preset, verify=verify)
    config = _read_json(directory / CONFIG_FILE, f"preset {preset!r}")
    metadata = _read_json(directory / METADATA_FILE, f"preset {preset!r}")
    with precision_scope(precision):
        model = _build_preset_model(preset, directory, config, metadata, load_weights, expected_class,
                                    build=precision is not None, verify=verify)
    return model


def _build_preset_model(preset, directory, config, metadata, load_weights, expected_class, build, verify=True):
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
        expected = metadata.get("weights_sha256") if isinstance(metadata, dict) else None
        if verify and not expected:
            raise PresetError(
                f"preset {preset!r}: {directory / METADATA_FILE} records no weights_sha256, so {weights} "
                "cannot be verified; pass verify=False to load it unverified, or re-save the model with "
                "save_to_preset (which records it)."
            )
        if verify:
            actual = sha256_of(weights)
            if expected != actual:
                raise PresetError(
                    f"preset {preset!r}: sha256 mismatch for {weights}: metadata.json records {expected}, "
                    f"the file has {actual}; the file is corrupt or does not belong to this preset."
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


def canonical_weights_dtype(weights_dtype):
    """`weights_dtype` checked against `WEIGHTS_DTYPES` (None: float32)."""
    weights_dtype = "float32" if weights_dtype is None else weights_dtype
    if weights_dtype not in WEIGHTS_DTYPES:
        raise ValueError(f"weights_dtype must be one of {list(WEIGHTS_DTYPES)}; got {weights_dtype!r}.")
    return weights_dtype


def round_weights(model, weights_dtype):
    """Rounds the model's float32 weights to `weights_dtype` (kept float32).

    After it, the model computes exactly what a preset saved with that
    `weights_dtype` computes once loaded, so scores measured on it are the
    shipped weights' scores.

    Args:
        model: a built model.
        weights_dtype: one of `WEIGHTS_DTYPES`.
    """
    if canonical_weights_dtype(weights_dtype) == "float32":
        return
    for variable in model.weights:
        if variable.dtype == "float32":
            value = keras.ops.convert_to_numpy(variable)
            variable.assign(value.astype(weights_dtype).astype("float32"))


def convert_weights_file(path, weights_dtype):
    """Rewrites a Keras weights file's float32 arrays in `weights_dtype`,
    atomically (a kill leaves the old file); other arrays are kept as they are.

    Args:
        path: a `.weights.h5` file.
        weights_dtype: one of `WEIGHTS_DTYPES` (float32: nothing to do).

    Raises:
        ValueError: an unknown `weights_dtype`, or an array whose values
            do not fit it (an overflow to infinity).
    """
    import h5py
    import numpy as np

    from keras_hvae.utils.atomic_files import atomic_write

    if canonical_weights_dtype(weights_dtype) == "float32":
        return
    path = Path(path)
    with atomic_write(path) as tmp:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "r+") as f:
            names = []
            f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
            for name in names:
                value = f[name][()]
                if value.dtype != np.float32:
                    continue
                with np.errstate(over="ignore"):  # an overflow is reported below
                    converted = value.astype(weights_dtype)
                if not np.isfinite(converted).all() and np.isfinite(value).all():
                    raise ValueError(f"{path}: {name} holds values beyond {weights_dtype}'s range "
                                     f"(max |w| = {np.abs(value).max():.4g}); keep float32 weights.")
                attrs = dict(f[name].attrs)
                del f[name]
                f.create_dataset(name, data=converted)
                f[name].attrs.update(attrs)
        # h5py leaves the deleted arrays' space in the file: repack.
        packed = tmp.with_name(tmp.name + ".packed.weights.h5")
        try:
            with h5py.File(tmp, "r") as src, h5py.File(packed, "w") as dst:
                for key in src:
                    src.copy(src[key], dst, name=key)
                dst.attrs.update(dict(src.attrs))
            os.replace(packed, tmp)
        finally:
            packed.unlink(missing_ok=True)


def save_preset(model, directory, metadata=None, weights_dtype=None):
    """Writes `model` as a preset directory; returns the metadata written.

    `weights_dtype` (None or `"float32"`; `"float16"` halves the file) is the
    dtype the weights file stores the float arrays in; metadata.json records
    it. Round the model first (`round_weights`) to score what is shipped.
    """
    weights_dtype = canonical_weights_dtype(weights_dtype)
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
    convert_weights_file(weights, weights_dtype)
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
            "weights_dtype": weights_dtype,
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
    def from_preset(cls, preset, load_weights=True, precision=None, verify=True):
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
            verify: check the weights against the sha256 that metadata.json
                records (`weights_sha256`); a preset that records none is
                refused. `save_to_preset` always records it; pass
                `verify=False` only for a hand-made preset you trust.

        Returns:
            The model, with its `preset_metadata` attached.

        Raises:
            PresetError (a ValueError): unknown name, missing or corrupt file,
                sha256 mismatch or none recorded (with `verify=True`), a
                preset of another class, or a failed download (naming the
                URL and the cause: HTTP status, unreachable host, not an
                archive, truncated, missing file, sha256 mismatch).
            ValueError: an unknown `precision`, naming the allowed ones.

        Example (not run by the docstring tests: the package docstring
        loads the same preset):
        >>> model = keras_hvae.applications.BIVA.from_preset("biva_binarized_mnist")  # doctest: +SKIP
        >>> fast = keras_hvae.applications.BIVA.from_preset("biva_binarized_mnist", precision="bfloat16")  # doctest: +SKIP
        """
        return load_preset(preset, load_weights=load_weights, expected_class=cls, precision=precision,
                           verify=verify)

    def save_to_preset(self, preset_dir, metadata=None, weights_dtype=None):
        """Writes this model as a preset directory (keras-hub's layout).

        Args:
            preset_dir: the directory to write.
            metadata: extra entries for `metadata.json` (dataset, recipe,
                `scores`, ...); versions, parameter count, the weights'
                sha256 and `weights_dtype` are added.
            weights_dtype: the dtype of the weights file's float arrays:
                None or `"float32"`, or `"float16"` (half the file; the
                loaded variables are float32 again, the values rounded).

        Returns:
            The metadata written.
        """
        return save_preset(self, preset_dir, metadata, weights_dtype=weights_dtype)

    #: The file `model.save("m.keras")` keeps `preset_metadata` in (among the
    #: archive's assets), so that `keras.saving.load_model` gives it back.
    PRESET_METADATA_ASSET = "preset_metadata.json"

    def save_assets(self, dir_path):
        """Keras' hook for `.keras` archives: writes `preset_metadata`
        (scores, dataset, recipe, ...) when the model has any."""
        meta = getattr(self, "preset_metadata", None)
        if meta:
            with open(Path(dir_path) / self.PRESET_METADATA_ASSET, "w", encoding="utf-8") as f:
                json.dump(meta, f, indent=2, default=str)

    def load_assets(self, dir_path):
        """Keras' hook for `.keras` archives: restores `preset_metadata`
        (`keras.saving.load_model("m.keras").preset_metadata` is what the
        saved model had)."""
        path = Path(dir_path) / self.PRESET_METADATA_ASSET
        if path.is_file():
            with open(path, encoding="utf-8") as f:
                self.preset_metadata = json.load(f)

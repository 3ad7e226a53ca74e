"""Datasets that ship with a package, and the user's own pictures: nothing is downloaded at run time."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from framework.core.arrays import Array, float_dtype
from framework.core.errors import DatasetError, ValueRangeError


@attrs.frozen
class Split:
    """A train/test split, batch first: x (m, features) or (m, H, W, C) images, y (m, 1) of 0/1."""

    x_train: Array
    y_train: Array
    x_test: Array
    y_test: Array
    description: str


def _sklearn() -> Any:
    try:
        import sklearn  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise ImportError("the digits dataset needs scikit-learn: pip install 'framework[datasets]'") from e
    return sklearn


def load_digits_binary(
    *, test_size: float = 0.25, seed: int = 0, dtype: npt.DTypeLike = np.float64, standardize: bool = True,
    flatten: bool = True,
) -> Split:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images of 64 pixels) as a binary task:
    is the digit odd (y = 1) or even (y = 0)? About half the images are odd.

    The split is stratified; the pixels are standardised with the training set's mean and
    standard deviation only, or with `standardize=False` left raw (0 to 16), for a model that
    standardises its input itself (a `Normalization` layer adapted on x_train). With `flatten=False`
    x is the images, (m, 8, 8, 1), channels last, for a convnet.

    >>> raw = load_digits_binary(standardize=False)
    >>> raw.x_train.shape, float(raw.x_train.min()), float(raw.x_train.max())
    ((1347, 64), 0.0, 16.0)
    """
    dt = float_dtype(dtype)
    x_train, x_test, y_train, y_test = _digits(lambda digit: (digit % 2 == 1).astype(dt).reshape(-1, 1), dt,
                                               test_size, seed, standardize, flatten)
    return Split(x_train, y_train, x_test, y_test,
                 f"scikit-learn digits, odd (1) vs even (0): {len(x_train)} train / {len(x_test)} test images of 8x8 pixels")


def _digits(
    labels: Callable[[npt.NDArray[np.int64]], Any], dtype: np.dtype[np.floating[Any]], test_size: float, seed: int,
    standardize: bool, flatten: bool,
) -> tuple[Array, Array, Any, Any]:
    """scikit-learn's digits with `labels(digit)` as targets: a stratified split, each pixel
    standardised with the training set's statistics, or raw; rows of 64 pixels, or (8, 8, 1) images."""
    _sklearn()
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    digits = sklearn_digits()
    y = labels(digits.target.astype(np.int64))
    x_train, x_test, y_train, y_test = train_test_split(digits.data, y, test_size=test_size, stratify=y,
                                                        random_state=seed)
    if standardize:
        scaler = StandardScaler().fit(x_train)
        x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    shape = (-1, 64) if flatten else (-1, 8, 8, 1)
    return x_train.astype(dtype).reshape(shape), x_test.astype(dtype).reshape(shape), y_train, y_test


@attrs.frozen
class ImageFolder:
    """Images, batch first: x (m, height * width * 3) of RGB values in [0, 1] (or (m, height, width,
    3) with `flatten=False`); y (m, 1) of 0/1 for two classes (1 = the second class name), (m,) of
    int64 labels for more."""

    x: Array
    y: Array | npt.NDArray[np.int64]
    class_names: tuple[str, ...]
    """The sub-folder names, sorted: label i is class_names[i]."""
    paths: tuple[str, ...]
    """The file of each image of x."""
    skipped: tuple[str, ...] = ()
    """The files left out because their extension is not that of an image format Pillow reads
    (notes.txt); hidden files and folders inside a class folder are ignored without being listed."""


def image_extensions() -> frozenset[str]:
    """The file extensions, lower case with the dot, of the image formats the installed Pillow reads
    (not those it only writes, such as .pdf).

    >>> {".png", ".jpg", ".jpeg", ".tiff"} <= image_extensions(), ".txt" in image_extensions()
    (True, False)
    """
    from PIL import Image

    return frozenset(extension for extension, name in Image.registered_extensions().items() if name in Image.OPEN)


def image_folder(
    path: str | os.PathLike[str], size: tuple[int, int] = (64, 64), *, dtype: npt.DTypeLike = np.float64,
    flatten: bool = True,
) -> ImageFolder:
    """Load a folder of pictures with one sub-folder per class, such as::

        pictures/
            cat/         class 0 ... y = 0
                001.jpg
                002.png
                notes.txt    skipped: not an image (listed in `skipped`)
            non-cat/     class 1 ... y = 1 (the second name in sorted order)
                001.jpg

    Every file whose extension is that of an image format Pillow reads (`image_extensions()`, any
    case) is opened with Pillow, converted to RGB (grayscale is repeated into the three channels,
    alpha is dropped), turned upright by its EXIF orientation, and resized to `size` = (width,
    height), as Pillow counts; one that does not decode is a DatasetError. Row i of x is that
    image's (height, width, 3) pixels flattened, over 255: `x[i].reshape(height, width, 3)` shows
    it; with `flatten=False`, x[i] is that (height, width, 3) array. Class folders and the files in
    each are taken in sorted order; names starting with "." are skipped, and so are folders inside
    a class folder.

    >>> import tempfile
    >>> from PIL import Image
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for name, colour in [("cat", "orange"), ("non-cat", "blue")]:
    ...         Path(folder, name).mkdir()
    ...         Image.new("RGB", (120, 80), colour).save(Path(folder, name, "001.png"))
    ...     _ = Path(folder, "cat", "notes.txt").write_text("one orange cat")
    ...     data = image_folder(folder, size=(32, 24))
    ...     images = image_folder(folder, size=(32, 24), flatten=False)
    >>> data.x.shape, data.y.tolist(), data.class_names, [Path(p).name for p in data.skipped]
    ((2, 2304), [[0.0], [1.0]], ('cat', 'non-cat'), ['notes.txt'])
    >>> images.x.shape, bool((images.x.reshape(2, -1) == data.x).all())
    ((2, 24, 32, 3), True)
    """
    read = _image_reader()
    width, height = size
    if width < 1 or height < 1:
        raise ValueRangeError(f"image_folder size must be (width, height) of positive pixel counts, got {size}")
    dt = float_dtype(dtype)
    classes = _class_folders(Path(path))
    files, skipped = _pictures(classes)
    x = np.empty((len(files), height, width, 3), dtype=dt)
    for row, (_, file) in enumerate(files):
        x[row] = read(file, size)
    x /= 255
    labels = np.array([label for label, _ in files], dtype=np.int64)
    return ImageFolder(
        x.reshape(len(files), -1) if flatten else x,
        labels.astype(dt).reshape(-1, 1) if len(classes) == 2 else labels,
        tuple(p.name for p in classes),
        tuple(str(p) for _, p in files),
        tuple(str(p) for p in skipped),
    )


def _image_reader() -> Callable[[Path, tuple[int, int]], Array]:
    """Pillow's reader of one picture: upright by its EXIF orientation, RGB, resized to (width, height);
    a DatasetError for a file that does not decode. An ImportError when Pillow is not installed."""
    try:
        from PIL import Image, ImageOps
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise ImportError("image_folder needs Pillow: pip install 'framework[datasets]'") from e

    def read(file: Path, size: tuple[int, int]) -> Array:
        try:
            with Image.open(file) as image:
                upright = ImageOps.exif_transpose(image)
                # via RGBA: a palette image with transparency would warn when converted to RGB directly
                rgb = upright.convert("RGBA").convert("RGB").resize(size, Image.Resampling.BICUBIC)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise DatasetError(f"image_folder: cannot read {file} as an image ({e}): remove it or fix it") from e
        return np.asarray(rgb)

    return read


def _class_folders(root: Path) -> list[Path]:
    """The class folders of `root`, sorted, hidden ones skipped: at least two."""
    if not root.is_dir():
        raise DatasetError(f"image_folder: {root} is not a folder: expected a folder with one sub-folder per class")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DatasetError(
            f"image_folder: {root} has {len(classes)} class folder(s) {[p.name for p in classes]}: expected at "
            "least two, such as cat/ and non-cat/, with the pictures of each class inside its folder"
        )
    return classes


def _pictures(classes: list[Path]) -> tuple[list[tuple[int, Path]], list[Path]]:
    """The pictures of each class folder, sorted, as (label, file), and the files that are not images by
    their extension (skipped); a class folder without pictures is a DatasetError."""
    extensions = image_extensions()
    files: list[tuple[int, Path]] = []
    skipped: list[Path] = []
    for label, folder in enumerate(classes):
        found = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        pictures = [p for p in found if p.suffix.lower() in extensions]
        others = [p for p in found if p.suffix.lower() not in extensions]
        if not pictures:
            holds = f" but {', '.join(p.name for p in others)}, not images by their extension" if others else ""
            raise DatasetError(f"image_folder: the class folder {folder} has no files{holds}: every class needs "
                               "pictures")
        files += [(label, p) for p in pictures]
        skipped += others
    return files, skipped


@attrs.frozen
class ClassSplit:
    """A train/test split of a task with several classes, batch first: x (m, features) or (m, H, W, C)
    images, y (m,) of int64 class indices."""

    x_train: Array
    y_train: npt.NDArray[np.int64]
    x_test: Array
    y_test: npt.NDArray[np.int64]
    description: str


def load_digits(
    *, test_size: float = 0.25, seed: int = 0, dtype: npt.DTypeLike = np.float64, standardize: bool = True,
    flatten: bool = True,
) -> ClassSplit:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images of 64 pixels) as a 10-class task:
    y is the digit, 0 to 9, about 180 images each.

    The split is stratified; the pixels are standardised with the training set's mean and
    standard deviation only, or with `standardize=False` left raw (0 to 16). With `flatten=False`
    x is the images, (m, 8, 8, 1), channels last, for a convnet: the same pixels, split the same way.

    >>> data = load_digits()
    >>> data.x_train.shape, data.y_train.shape, data.y_train.dtype, sorted(set(data.y_test.tolist()))
    ((1347, 64), (1347,), dtype('int64'), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    >>> images = load_digits(flatten=False)
    >>> images.x_train.shape, bool((images.x_train.reshape(-1, 64) == data.x_train).all())
    ((1347, 8, 8, 1), True)
    """
    x_train, x_test, y_train, y_test = _digits(lambda digit: digit, float_dtype(dtype), test_size, seed, standardize,
                                               flatten)
    return ClassSplit(x_train, y_train, x_test, y_test,
                      f"scikit-learn digits, 10 classes (0 to 9): {len(x_train)} train / {len(x_test)} test images of 8x8 pixels")

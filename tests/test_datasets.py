"""image_folder: one sub-folder per class, pictures of any format and mode, as rows of RGB in [0, 1]."""

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from framework import DTypeError, FrameworkError, ValueRangeError
from framework.core.errors import DatasetError
from framework.datasets import image_folder

ORANGE, BLUE = (255, 128, 0), (0, 0, 255)


def save(path: Path, image: Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def cats(root: Path) -> Path:
    """Two orange cats and one blue non-cat, written in an order that is not the sorted one."""
    save(root / "non-cat" / "1.png", Image.new("RGB", (30, 20), BLUE))
    save(root / "cat" / "b.png", Image.new("RGB", (16, 16), ORANGE))
    save(root / "cat" / "a.jpg", Image.new("RGB", (40, 30), ORANGE))
    return root


def pixels(row: npt.NDArray[np.floating[Any]], size: tuple[int, int]) -> npt.NDArray[np.floating[Any]]:
    width, height = size
    return row.reshape(height, width, 3)


def filled(rgb: tuple[int, ...], size: tuple[int, int]) -> npt.NDArray[np.float64]:
    """An image of one colour, as image_folder gives it."""
    width, height = size
    return np.broadcast_to(np.divide(rgb, 255), (height, width, 3))


def test_two_classes_give_rows_of_rgb_in_0_1_and_labels_of_shape_m_1(tmp_path: Path) -> None:
    data = image_folder(cats(tmp_path), size=(8, 6))
    assert data.class_names == ("cat", "non-cat")
    assert data.paths == tuple(str(tmp_path / p) for p in ["cat/a.jpg", "cat/b.png", "non-cat/1.png"])
    assert data.x.shape == (3, 8 * 6 * 3) and data.x.dtype == np.float64
    assert data.x.min() >= 0 and data.x.max() <= 1
    assert data.y.shape == (3, 1) and data.y.dtype == np.float64
    assert data.y.ravel().tolist() == [0.0, 0.0, 1.0]
    np.testing.assert_allclose(pixels(data.x[1], (8, 6)), filled(ORANGE, (8, 6)))
    np.testing.assert_allclose(pixels(data.x[0], (8, 6)), filled(ORANGE, (8, 6)), atol=0.02)  # a JPEG


def test_more_classes_give_int64_labels_of_shape_m(tmp_path: Path) -> None:
    for label, name in enumerate(["bird", "cat", "dog"]):
        for i in range(label + 1):
            save(tmp_path / name / f"{i}.png", Image.new("RGB", (5, 5), (label * 100, 0, 0)))
    data = image_folder(tmp_path, size=(4, 4))
    assert data.class_names == ("bird", "cat", "dog")
    assert data.y.dtype == np.int64
    assert data.y.tolist() == [0, 1, 1, 2, 2, 2]
    assert data.x[:, 0].tolist() == pytest.approx([0.0, 100 / 255, 100 / 255, 200 / 255, 200 / 255, 200 / 255])


def test_size_is_width_then_height_as_pillow_counts(tmp_path: Path) -> None:
    image = Image.new("L", (10, 4), 0)
    image.paste(255, (5, 0, 10, 4))  # the right half white
    save(tmp_path / "a" / "half.png", image)
    save(tmp_path / "b" / "black.png", Image.new("L", (3, 3), 0))
    data = image_folder(tmp_path, size=(6, 2))
    assert data.x.shape == (2, 2 * 6 * 3)
    first = pixels(data.x[0], (6, 2))
    np.testing.assert_allclose(first[:, :2], 0.0, atol=1e-12)
    np.testing.assert_allclose(first[:, 4:], 1.0, atol=1e-12)


@pytest.mark.parametrize(
    ("image", "rgb"),
    [
        (Image.new("L", (7, 5), 51), (51, 51, 51)),
        (Image.new("1", (7, 5), 1), (255, 255, 255)),
        (Image.new("LA", (7, 5), (200, 0)), (200, 200, 200)),
        (Image.new("RGBA", (7, 5), (10, 20, 30, 0)), (10, 20, 30)),
        (Image.new("CMYK", (7, 5), (0, 0, 0, 0)), (255, 255, 255)),
    ],
)
def test_every_mode_becomes_rgb_with_alpha_dropped(tmp_path: Path, image: Image.Image, rgb: tuple[int, ...]) -> None:
    save(tmp_path / "a" / "x.tiff", image)
    save(tmp_path / "b" / "x.png", Image.new("RGB", (7, 5)))
    data = image_folder(tmp_path, size=(7, 5))
    np.testing.assert_allclose(pixels(data.x[0], (7, 5)), filled(rgb, (7, 5)))


def test_a_palette_image_with_transparency_loads_without_a_warning(tmp_path: Path) -> None:
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 0, 255, 0])
    (tmp_path / "a").mkdir()
    image.save(tmp_path / "a" / "p.png", transparency=bytes([0, 128]))
    save(tmp_path / "b" / "x.png", Image.new("RGB", (4, 4)))
    data = image_folder(tmp_path, size=(4, 4))
    assert pixels(data.x[0], (4, 4))[0, 0].tolist() == [0.0, 1.0, 0.0]


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("L", (4, 2), 0)
    image.paste(255, (2, 0, 4, 2))  # the right half white, then tagged "rotate 180 to view"
    exif = Image.Exif()
    exif[0x0112] = 3
    (tmp_path / "a").mkdir()
    image.save(tmp_path / "a" / "rotated.png", exif=exif)
    save(tmp_path / "b" / "x.png", Image.new("RGB", (4, 2)))
    upright = pixels(image_folder(tmp_path, size=(4, 2)).x[0], (4, 2))
    assert upright[:, :2].min() == 1.0 and upright[:, 2:].max() == 0.0


def test_float32(tmp_path: Path) -> None:
    data = image_folder(cats(tmp_path), size=(4, 4), dtype=np.float32)
    assert data.x.dtype == np.float32 and data.y.dtype == np.float32


def test_hidden_files_and_folders_and_nested_folders_are_skipped(tmp_path: Path) -> None:
    cats(tmp_path)
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\x00\x01 not an image")
    save(tmp_path / "cat" / "more" / "c.png", Image.new("RGB", (4, 4)))
    data = image_folder(tmp_path, size=(4, 4))
    assert data.class_names == ("cat", "non-cat")
    assert len(data.paths) == 3


def test_files_that_are_not_images_by_their_extension_are_skipped_and_listed(tmp_path: Path) -> None:
    cats(tmp_path)
    (tmp_path / "cat" / "notes.txt").write_text("three cats")
    (tmp_path / "non-cat" / "README").write_text("blue things")
    (tmp_path / "non-cat" / "report.pdf").write_bytes(b"%PDF-1.4")  # a format Pillow writes but cannot read
    save(tmp_path / "non-cat" / "2.JPG", Image.new("RGB", (4, 4), BLUE))  # any case
    data = image_folder(tmp_path, size=(4, 4))
    assert data.paths == tuple(str(tmp_path / p) for p in ["cat/a.jpg", "cat/b.png", "non-cat/1.png", "non-cat/2.JPG"])
    assert data.skipped == tuple(str(tmp_path / p) for p in ["cat/notes.txt", "non-cat/README", "non-cat/report.pdf"])
    assert data.x.shape == (4, 48) and data.y.ravel().tolist() == [0.0, 0.0, 1.0, 1.0]
    assert image_folder(cats(tmp_path / "clean"), size=(4, 4)).skipped == ()


def test_a_file_with_an_image_extension_that_does_not_decode_is_an_error_naming_it(tmp_path: Path) -> None:
    cats(tmp_path)
    (tmp_path / "cat" / "notes.png").write_text("three cats")
    with pytest.raises(DatasetError, match=r"cannot read .*cat/notes\.png as an image") as raised:
        image_folder(tmp_path)
    assert isinstance(raised.value, FrameworkError) and isinstance(raised.value, ValueError)


def test_a_class_folder_of_files_that_are_not_images_is_an_error_naming_them(tmp_path: Path) -> None:
    cats(tmp_path)
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "notes.txt").write_text("no dogs yet")
    with pytest.raises(DatasetError, match=r"the class folder .*dog has no files but notes\.txt, not images by their "
                                           r"extension: every class needs pictures"):
        image_folder(tmp_path)


def test_flatten_false_gives_images_of_height_width_3(tmp_path: Path) -> None:
    flat, images = (image_folder(cats(tmp_path), size=(8, 6), flatten=flatten) for flatten in (True, False))
    assert images.x.shape == (3, 6, 8, 3) and images.x.dtype == np.float64
    np.testing.assert_array_equal(images.x.reshape(3, -1), flat.x)
    np.testing.assert_allclose(images.x[2], filled(BLUE, (8, 6)))
    assert images.y.tolist() == flat.y.tolist() and images.paths == flat.paths


def test_a_truncated_image_is_an_error_naming_it(tmp_path: Path) -> None:
    cats(tmp_path)
    whole = save(tmp_path / "cat" / "c.png", Image.effect_noise((64, 64), 50)).read_bytes()
    (tmp_path / "cat" / "c.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetError, match=r"cannot read .*cat/c\.png"):
        image_folder(tmp_path)


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is not a folder"):
        image_folder(tmp_path / "pictures")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="is not a folder"):
        image_folder(tmp_path / "file.png")


def test_fewer_than_two_classes_is_an_error(tmp_path: Path) -> None:
    save(tmp_path / "loose.png", Image.new("RGB", (4, 4)))
    with pytest.raises(DatasetError, match=r"has 0 class folder\(s\) \[\]: expected at least two"):
        image_folder(tmp_path)
    save(tmp_path / "cat" / "1.png", Image.new("RGB", (4, 4)))
    with pytest.raises(DatasetError, match=r"has 1 class folder\(s\) \['cat'\]"):
        image_folder(tmp_path)


def test_an_empty_class_folder_is_an_error(tmp_path: Path) -> None:
    cats(tmp_path)
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / ".gitkeep").write_text("")
    with pytest.raises(DatasetError, match=r"class folder .*dog has no files"):
        image_folder(tmp_path)


def test_bad_size_and_dtype_are_errors(tmp_path: Path) -> None:
    cats(tmp_path)
    with pytest.raises(ValueRangeError, match=r"\(width, height\) of positive pixel counts, got \(0, 64\)"):
        image_folder(tmp_path, size=(0, 64))
    with pytest.raises(DTypeError, match="float32 or float64"):
        image_folder(tmp_path, dtype=np.int32)

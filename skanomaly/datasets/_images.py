"""One image file read: opened safely, its mode, transparency and size, as an array.

Every reader of image folders (:func:`skanomaly.datasets.load_image_folder`,
:class:`skanomaly.datasets.ImageFolderDataset`) reads each file through
``_read_image``, so that they give the same arrays and the same errors.
"""

from __future__ import annotations

import os
import stat

import numpy as np

from .._limits import MAX_IMAGE_PIXELS

# PIL modes of grey images (one colour channel, with or without alpha).
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# PIL modes with an alpha channel (palette and RGB images may carry a
# transparent colour in ``info["transparency"]`` instead).
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})

# PIL modes of one channel with more than 8 bits, and their full scale.
_WIDE_GREY = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535, "I": 65535}


def _open_regular(path: str):
    """A binary file object for ``path``, refused unless it is a regular file.

    Opened non-blocking, so that a FIFO named ``*.png`` cannot hang the reader.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ValueError(f"cannot read image {path}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValueError(f"cannot read image {path}: not a regular file")
    return os.fdopen(fd, "rb")


def _open_image(path: str, *, header_only: bool = False):
    """Open (and unless ``header_only``, decode) one image, naming the file in any error.

    A decoded image is turned upright by its EXIF orientation (phone photos
    store the sensor's rows and a tag that says how to rotate them).
    ``header_only`` returns whether the image is grey (:func:`_is_grey`).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    with _open_regular(path) as handle:
        try:
            with Image.open(handle) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ValueError(
                        f"image {path} is {width}x{height} pixels, more than skanomaly reads "
                        f"({MAX_IMAGE_PIXELS:,} pixels); downscale it first"
                    )
                if header_only:
                    return _is_grey(image)
                image.load()
                return ImageOps.exif_transpose(image)  # a copy: the file is closed below
        except Image.DecompressionBombError:  # PIL's own, larger limit, at open
            raise ValueError(
                f"image {path} is larger than skanomaly reads ({MAX_IMAGE_PIXELS:,} pixels); "
                "downscale it first"
            ) from None
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"cannot read image {path}: {exc}") from None


def _is_grey(image) -> bool:
    """Whether an image has no colour: a grey mode, or a palette of greys only."""
    if image.mode in _GREY_MODES:
        return True
    if image.mode in ("P", "PA"):
        palette = image.getpalette()  # [r, g, b, r, g, b, ...]
        return palette is not None and palette[0::3] == palette[1::3] == palette[2::3]
    return False


def _size_param(image_size) -> tuple[int, int] | None:
    if image_size is None:
        return None
    return (int(image_size),) * 2 if np.isscalar(image_size) else tuple(image_size)


def _read_image(file: str, grayscale: bool, size) -> tuple[np.ndarray, bool, tuple[int, int]]:
    """One image as read: the ``(C, H, W)`` array, whether it had transparent pixels, its size."""
    image, see_through = _without_alpha(_open_image(file))
    return _to_array(image, grayscale, size, file), see_through, image.size


def _size_mismatch(first: str, first_array, file: str, array) -> str:
    return (
        f"images differ in size: {first} is {_hw(first_array)} but {file} is "
        f"{_hw(array)}; pass image_size to resize them."
    )


def _without_alpha(image):
    """``image`` composited onto black if it has transparent pixels, and whether it had.

    One rule for every image with an alpha channel or a transparent colour:
    a pixel's colour is weighted by its opacity, so fully transparent
    pixels read as 0 whatever colour they hide. Opaque images are unchanged.
    """
    from PIL import Image

    if image.mode in _WIDE_GREY or image.mode == "F":
        return image, False  # no alpha channel in these modes
    if image.mode not in _ALPHA_MODES and "transparency" not in image.info:
        return image, False
    rgba = image.convert("RGBA")
    if rgba.getchannel("A").getextrema()[0] == 255:
        return image, False
    black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
    return Image.alpha_composite(black, rgba).convert("RGB"), True


def _to_array(image, grayscale: bool, size, path: str) -> np.ndarray:
    """One image as a float32 ``(C, H, W)`` array in [0, 1], resized if asked."""
    import torch
    from torchvision.transforms import functional

    if image.mode in _WIDE_GREY or image.mode == "F":
        # Scale by the bit depth: converting to 8 bits would clip 16-bit data.
        values = np.asarray(image, dtype=np.float64)
        full = _WIDE_GREY.get(image.mode, 1.0)
        if values.size and (values.min() < 0 or values.max() > full):
            raise ValueError(
                f"cannot read image {path}: mode {image.mode} values outside 0..{full:g}"
            )
        tensor = torch.from_numpy((values / full).astype(np.float32))[None]
        if not grayscale:
            tensor = tensor.expand(3, -1, -1)
        if size is not None:
            tensor = functional.resize(tensor, list(size), antialias=True)
        return tensor.clamp(0, 1).numpy()
    image = image.convert("L" if grayscale else "RGB")
    if size is not None:
        image = functional.resize(image, list(size), antialias=True)
    return functional.to_tensor(image).numpy()


def _hw(tensor) -> str:
    return "x".join(str(s) for s in tensor.shape[-2:])

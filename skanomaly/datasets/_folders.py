"""Image folders: which files are read, how class folders are labelled, masks.

:func:`load_image_folder` and its pieces, which
:class:`skanomaly.datasets.ImageFolderDataset` shares: the listing of a
folder (regular files, each once; hidden and other entries skipped, with one
warning), the labels of class folders (:func:`is_normal_class`), the colour
rule, and the ground-truth masks of the MVTec AD layout.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..exceptions import ImageFolderWarning
from ._images import _open_image, _read_image, _size_mismatch, _size_param

# Words of class-folder names, split at anything but letters ("no_good" is
# "no", "good"; "0.normal" is "normal"). Normal: one of NORMAL_WORDS and
# none of NOT_NORMAL_WORDS; every other folder is anomalous.
NORMAL_WORDS = frozenset({"good", "ok", "normal", "nominal", "pass", "passed", "clean"})
NOT_NORMAL_WORDS = frozenset(
    {"no", "not", "non", "nok", "ng", "bad", "abnormal", "anomaly", "anomalous", "defect"}
    | {"defects", "defective", "fail", "failed", "reject", "rejected", "faulty"}
)

# Why a file was not read, as the summary warning says it.
_SKIPPED = {
    "hidden": "hidden",
    "type": "other file types",
    "special": "not regular files",
    "broken": "broken links",
    "again": "links to files already read",
    "loose": "beside the class folders",
}
# Skipped files named in the summary warning (all are in ``skipped``).
_NAMED_SKIPPED = 10


def is_normal_class(folder_name: str) -> bool:
    """The default rule that labels a class folder: normal or anomalous.

    The name is split into words at anything but letters, in any case. A
    folder is normal when one word is ``good``, ``ok``, ``normal``,
    ``nominal``, ``pass``, ``passed`` or ``clean`` and none is a negation or
    an anomaly word (``no``, ``not``, ``non``, ``nok``, ``ng``, ``bad``,
    ``abnormal``, ``anomaly``, ``anomalous``, ``defect(s)``, ``defective``,
    ``fail(ed)``, ``reject(ed)``, ``faulty``); every other folder holds
    anomalies. So ``0.normal``, ``good``, ``OK`` and ``normal_parts`` are
    normal; ``1.abnormal``, ``no_good``, ``not_good``, ``NG``, ``crack`` and
    ``scratch`` are anomalous (the MVTec AD layout works as is).
    :func:`load_image_folder` takes ``normal_class`` / ``anomalous_class``
    to name the folders explicitly instead.

    Examples
    --------
    >>> from skanomaly.datasets import is_normal_class
    >>> [is_normal_class(n) for n in ["0.normal", "good", "OK", "1.abnormal", "NG", "no_good"]]
    [True, True, True, False, False, False]
    """
    words = set(re.findall(r"[a-z]+", folder_name.lower()))
    return bool(words & NORMAL_WORDS) and not words & NOT_NORMAL_WORDS


def _class_labels(classes: list[str], normal_class, anomalous_class, root) -> np.ndarray:
    """1 (anomalous) / 0 (normal) per class folder, by the rule or by the given names."""

    def names(value, what):
        chosen = [value] if isinstance(value, str) else list(value)
        missing = sorted(set(chosen) - set(classes))
        if missing:
            raise ValueError(
                f"{what} {', '.join(map(repr, missing))} is not a class folder of {root} "
                f"(found {', '.join(map(repr, classes))})"
            )
        return set(chosen)

    if normal_class is None and anomalous_class is None:
        return np.array([0 if is_normal_class(c) else 1 for c in classes], dtype=np.int64)
    normal = names(normal_class, "normal class") if normal_class is not None else None
    anomalous = names(anomalous_class, "anomalous class") if anomalous_class is not None else None
    if normal is not None and anomalous is not None:
        both = sorted(normal & anomalous)
        other = sorted(set(classes) - normal - anomalous)
        if both or other:
            what = f"{both} named both normal and anomalous" if both else f"{other} unnamed"
            raise ValueError(
                f"with both normal and anomalous classes given, every class folder of {root} "
                f"must be exactly one of them: {what}"
            )
    if normal is not None:
        return np.array([0 if c in normal else 1 for c in classes], dtype=np.int64)
    return np.array([1 if c in anomalous else 0 for c in classes], dtype=np.int64)


def _is_hidden(name: str) -> bool:
    """Dot entries (``.cache/``, ``.ipynb_checkpoints/``, macOS ``._x.png``) and ``__MACOSX``."""
    return name.startswith(".") or name == "__MACOSX"


def _skip_reason(path: str, name: str, seen_files: set) -> str | None:
    """Why the file ``path`` is not read (a key of ``_SKIPPED``), or None to read it."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension

    if _is_hidden(name):
        return "hidden"
    if not has_file_allowed_extension(name, IMG_EXTENSIONS):
        return "type"
    try:
        info = os.stat(path)
    except OSError:
        return "broken"
    if not stat.S_ISREG(info.st_mode):
        return "special"
    if (info.st_dev, info.st_ino) in seen_files:
        return "again"
    seen_files.add((info.st_dev, info.st_ino))
    return None


def _image_files(folder: str, seen_files: set, seen_dirs: set, skipped: dict) -> list[str]:
    """Image files under ``folder``, sorted: regular files only, each file once.

    Symbolic links are followed, but a folder already visited (a link
    cycle, or a second link to the same folder) is not entered again, and a
    file reached twice is listed once. Hidden entries are not entered or
    read. Every file not read goes into ``skipped`` (path -> reason).
    """
    found = []
    for current, dirs, files in os.walk(folder, followlinks=True):
        info = os.stat(current)
        if current != folder and (info.st_dev, info.st_ino) in seen_dirs:
            dirs[:] = []
            continue
        seen_dirs.add((info.st_dev, info.st_ino))
        skipped.update(
            {os.path.join(current, d) + os.sep: "hidden" for d in dirs if _is_hidden(d)}
        )
        dirs[:] = sorted(d for d in dirs if not _is_hidden(d))
        for name in sorted(files):
            path = os.path.join(current, name)
            reason = _skip_reason(path, name, seen_files)
            if reason is None:
                found.append(path)
            else:
                skipped[path] = reason
    return found


def _inode(path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def _list_images(
    root: Path, normal_class=None, anomalous_class=None
) -> tuple[list[str], np.ndarray | None, list[str], dict[str, str]]:
    """Image paths, per-image labels (or None), class folder names, and the files skipped."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    root_info = os.stat(root)
    seen_dirs = {(root_info.st_dev, root_info.st_ino)}
    entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    skipped = {e.path + os.sep: "hidden" for e in entries if e.is_dir() and _is_hidden(e.name)}
    subfolders = [e.name for e in entries if e.is_dir() and not _is_hidden(e.name)]
    if {"train", "test"} & {name.lower() for name in subfolders}:
        raise ValueError(
            f"{root} holds train/ or test/ folders: pass {root / 'train'} or "
            f"{root / 'test'} instead of the data set's root."
        )
    # Every class folder is its own: a link to it from elsewhere is not entered.
    seen_dirs |= {_inode(root / name) for name in subfolders}
    seen_files: set = set()
    per_class = {
        name: _image_files(str(root / name), seen_files, seen_dirs, skipped) for name in subfolders
    }
    classes = [name for name in subfolders if per_class[name]]
    empty = [name for name in subfolders if not per_class[name]]
    looked_for = f"(looked for {', '.join(IMG_EXTENSIONS)})"
    loose, here = [], set()
    for entry in entries:
        if not entry.is_dir():
            reason = _skip_reason(entry.path, entry.name, here)
            if reason is None:
                loose.append(entry.path)
            else:
                skipped[entry.path] = reason
    if not classes:
        if not loose:
            where = f"{root}: class folders {', '.join(empty)} are empty" if empty else root
            raise ValueError(f"no images in {where} {looked_for}")
        if normal_class is not None or anomalous_class is not None:
            raise ValueError(f"{root} has no class folders to name as normal or anomalous")
        return loose, None, [], skipped
    if empty:
        raise ValueError(
            f"empty class folder in {root}: {', '.join(empty)} holds no images {looked_for}"
        )
    skipped.update(dict.fromkeys(loose, "loose"))
    class_labels = _class_labels(classes, normal_class, anomalous_class, root)
    paths = [path for name in classes for path in per_class[name]]
    labels = np.concatenate(
        [
            np.full(len(per_class[name]), label)
            for name, label in zip(classes, class_labels, strict=True)
        ]
    ).astype(np.int64)
    return paths, labels, classes, skipped


def _named(root: Path, paths: list[str]) -> str:
    """The first few of ``paths``, relative to ``root``, and how many more there are."""
    names = [os.path.relpath(p, root) + (os.sep if p.endswith(os.sep) else "") for p in paths]
    more = len(names) - _NAMED_SKIPPED
    return ", ".join(names[:_NAMED_SKIPPED]) + (f" and {more:,} more" if more > 0 else "")


def _warn_skipped(root: Path, skipped: dict[str, str], reader: str) -> None:
    """One warning line: how many entries were skipped, why, and which."""
    counts: dict[str, int] = {}
    for reason in skipped.values():
        counts[reason] = counts.get(reason, 0) + 1
    types = sorted(
        {
            os.path.splitext(p)[1].lower() or "no extension"
            for p, r in skipped.items()
            if r == "type"
        }
    )
    why = "; ".join(
        _SKIPPED[reason] + (f" ({', '.join(types)})" if reason == "type" else "") + f": {n:,}"
        for reason, n in counts.items()
    )
    n = len(skipped)
    warnings.warn(
        f"{reader} skipped {n:,} entr{'y' if n == 1 else 'ies'} in {root} ({why}): "
        f"{_named(root, list(skipped))} (all in the result's 'skipped')",
        ImageFolderWarning,
        stacklevel=4,
    )


def load_image_folder(
    path,
    image_size=None,
    grayscale=None,
    *,
    normal_class=None,
    anomalous_class=None,
    return_masks=False,
    mask_dir=None,
):
    """Load a folder of images as arrays, labels and file paths.

    Two layouts are read:

    - class folders, as for ``torchvision.datasets.ImageFolder``: e.g.
      ``test/0.normal/*.png`` and ``test/1.abnormal/*.png``, MVTec AD's
      ``test/good/``, ``test/crack/``..., or an inspection line's ``OK/`` and
      ``NG/``. Each image is labelled by its folder, with
      :func:`is_normal_class` (``good``, ``ok``, ``normal``... are normal;
      ``no_good``, ``ng``, ``abnormal``, ``crack``... anomalous) unless
      ``normal_class`` or ``anomalous_class`` names the folders;
    - a flat folder of images (no labels).

    Pass ``train/`` or ``test/`` itself, not the data set's root. Only
    regular files are read; symbolic links are followed, but every file and
    folder is read once (a link cycle is not followed round). Hidden
    entries (names starting with ``.``, such as ``.ipynb_checkpoints/`` or
    macOS ``._x.png`` files, and ``__MACOSX/``) are not read. Every file
    that is not read (hidden, another type such as ``.gif``, not a regular
    file, a second link to a file, an image beside the class folders) is
    counted and named in one :class:`~skanomaly.exceptions.ImageFolderWarning`
    and listed in the result's ``skipped``.

    Images are turned upright by their EXIF orientation. Transparent
    pixels are composited onto black: a pixel's colour is weighted by its
    opacity, so a fully transparent one reads as 0 (with a warning naming
    the images that have any).

    Parameters
    ----------
    path : str or path-like
        The folder.
    image_size : int or (int, int), default=None
        Resize every image to ``(size, size)`` or ``(height, width)``
        (antialiased bilinear). ``None`` keeps the sizes, which must then
        all be equal.
    grayscale : bool, default=None
        ``True``: one channel; ``False``: RGB. ``None``: one channel when
        every image is grey (PIL modes ``1``, ``L``, ``LA``, ``I``, ``F``...,
        or a palette of greys only), else RGB, with a warning naming the
        colour images when some images are grey and some are not.
    normal_class : str or list of str, default=None
        The class folder(s) holding normal images; every other folder is
        anomalous. Overrides :func:`is_normal_class`.
    anomalous_class : str or list of str, default=None
        The class folder(s) holding anomalies; every other folder is normal.
        With ``normal_class`` too, every folder must be named by one of them.
    return_masks : bool, default=False
        Also read the ground-truth masks of the MVTec AD layout: the mask of
        ``test/<defect>/<name>.<ext>`` is
        ``ground_truth/<defect>/<name>_mask.png`` (or ``<name>.png``), any
        non-zero pixel a defect. Masks are resized with their images, by
        nearest neighbour; normal images get all-zero masks.
    mask_dir : str or path-like, default=None
        Where the masks are; ``None`` = the ``ground_truth`` folder beside
        ``path`` (``path/../ground_truth``).

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images``: float32 array ``(n, C, H, W)`` with values in [0, 1]
        (16-bit images are scaled by 65535, 8-bit ones by 255);
        ``target``: int64 array (``1`` anomaly, ``0`` normal), or ``None``
        for a flat folder; ``paths``: list of file paths, in the order of
        the rows; ``original_sizes``: the ``(height, width)`` of each
        image as read (turned upright by its EXIF orientation), before any
        ``image_size`` resize; ``classes``: the class folder names (empty
        for a flat folder). With ``return_masks=True`` also ``masks``: a bool array
        ``(n, H, W)`` aligned with ``images``, or ``None`` when there is no
        mask folder (or no class folders). ``skipped``: a dict of the
        entries not read (path, with a trailing separator for a folder)
        to the reason (``"hidden"``, ``"type"``, ``"special"``,
        ``"broken"``, ``"again"``, ``"loose"``).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist, or ``mask_dir`` is given and does not.
    NotADirectoryError
        When ``path`` is not a folder.
    ValueError
        When it holds no image, a class folder without images, or ``train/``
        or ``test/`` folders (it is the data set's root); when an image
        cannot be read or is larger than ``MAX_IMAGE_PIXELS`` (8192 x 8192);
        when sizes differ and ``image_size`` is ``None``; when
        ``normal_class`` or ``anomalous_class`` names a folder that is not
        there, or, given both, leaves a folder unnamed or names one twice;
        with ``return_masks``, when an anomalous image has no mask or a
        mask's size differs from its image's.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> from skanomaly.datasets import load_image_folder
    >>> test = Path(tempfile.mkdtemp()) / "test"
    >>> for name in ["good/0.png", "good/1.png", "crack/0.png"]:
    ...     (test / name).parent.mkdir(parents=True, exist_ok=True)
    ...     Image.new("L", (16, 12), 128).save(test / name)
    >>> data = load_image_folder(test)
    >>> data.classes, data.target.tolist(), data.images.shape
    (['crack', 'good'], [1, 0, 0], (3, 1, 12, 16))
    """
    root, paths, target, classes, skipped = _folder_files(path, normal_class, anomalous_class)
    grayscale = _choose_grayscale(root, paths, grayscale)
    size = _size_param(image_size)

    images, sizes, transparent = [], [], []
    for file in paths:
        array, see_through, upright_size = _read_image(file, grayscale, size)
        if see_through:
            transparent.append(file)
        sizes.append(upright_size)
        if images and array.shape != images[0].shape:
            raise ValueError(_size_mismatch(paths[0], images[0], file, array))
        images.append(array)
    _warn_transparent(root, paths, transparent)
    array = np.stack(images)
    data = Bunch(images=array, target=target, paths=paths, classes=classes, skipped=skipped)
    data.original_sizes = [(height, width) for width, height in sizes]
    if return_masks:
        data.masks = _read_masks(
            root, paths, target, sizes, array.shape[-2:], image_size, mask_dir
        )
    return data


# Pieces of ``load_image_folder``, shared with the streamed reading of
# ``skanomaly.datasets.ImageFolderDataset``. Their warnings name the caller
# of the public function (``stacklevel`` counts from here).
def _folder_files(path, normal_class, anomalous_class, reader="load_image_folder"):
    """``(root, paths, target, classes, skipped)`` of an image folder; warns of skipped files."""
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    paths, target, classes, skipped = _list_images(root, normal_class, anomalous_class)
    if skipped:
        _warn_skipped(root, skipped, reader)
    return root, paths, target, classes, skipped


def _choose_grayscale(root: Path, paths: list[str], grayscale) -> bool:
    """``grayscale`` resolved: with None, grey when every image is (headers only)."""
    if grayscale is not None:
        return grayscale
    grey = [_open_image(p, header_only=True) for p in paths]
    if not all(grey) and any(grey):
        colour = [p for p, is_grey in zip(paths, grey, strict=True) if not is_grey]
        warnings.warn(
            f"{len(colour):,} of the {len(paths):,} images in {root} are in colour, the "
            f"others grey: all are read as RGB; pass grayscale=True (--color grey) to "
            f"read them as grey. Colour: {_named(root, colour)}",
            ImageFolderWarning,
            stacklevel=3,
        )
    return all(grey)


def _warn_transparent(root: Path, paths: list[str], transparent: list[str]) -> None:
    if transparent:
        warnings.warn(
            f"{len(transparent):,} of the {len(paths):,} images in {root} have transparent "
            f"pixels: they are composited onto black (a transparent pixel reads as 0): "
            f"{_named(root, transparent)}",
            ImageFolderWarning,
            stacklevel=3,
        )


def _mask_path(root: Path, image_path: str, mask_root: Path) -> Path:
    """The MVTec AD mask file of an image: ``<defect>/<name>_mask.png`` (or ``<name>.png``)."""
    relative = Path(image_path).relative_to(root)
    folder = mask_root / relative.parent
    for candidate in (folder / f"{relative.stem}_mask.png", folder / f"{relative.stem}.png"):
        if candidate.is_file():
            return candidate
    raise ValueError(
        f"no ground-truth mask for the anomalous image {image_path}: expected "
        f"{folder / (relative.stem + '_mask.png')}"
    )


def _read_masks(
    root: Path, paths, target, sizes, shape, image_size, mask_dir
) -> np.ndarray | None:
    """Masks aligned with the images read from ``root``; all-zero for normal images.

    ``sizes`` are the images' (upright) sizes, ``shape`` their size as read.
    """
    from PIL import Image

    mask_root = root.parent / "ground_truth" if mask_dir is None else Path(mask_dir).expanduser()
    if mask_dir is not None and not mask_root.is_dir():
        raise FileNotFoundError(f"mask folder {mask_root} does not exist")
    if target is None or not mask_root.is_dir():
        return None
    masks = np.zeros((len(paths), *shape), dtype=bool)
    for i in np.flatnonzero(target):
        file = _mask_path(root, paths[i], mask_root)
        mask = _open_image(str(file)).convert("L")
        size = sizes[i]
        if mask.size != size:
            raise ValueError(
                f"mask {file} is {mask.size[1]}x{mask.size[0]} but its image {paths[i]} is "
                f"{size[1]}x{size[0]}"
            )
        if image_size is not None:
            # Nearest neighbour: a resized mask stays binary and on its pixels.
            mask = mask.resize((shape[1], shape[0]), Image.Resampling.NEAREST)
        masks[i] = np.asarray(mask) > 0
    return masks

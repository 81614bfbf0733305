"""What the known datasets must contain: example counts and, where the files are canonical, checksums.

A copy of MNIST, Fashion-MNIST, CIFAR-10, IMDB or California housing with fewer (or more) examples than
the real dataset, or a canonical file whose content differs from the published one, is an
:class:`IncompleteDatasetError` naming the file and the numbers: a partly downloaded, partly extracted
or damaged copy is never trained on silently. Every such loader takes ``allow_partial=True`` to load
those files anyway (your own subset in the standard format, say), with one :class:`PartialDatasetWarning`
that lists the differences.

Checksums are SHA-256 of a file's *decompressed* content (``gunzip -c FILE | sha256sum``), so a file
re-gzipped with another header (Debian's Fashion-MNIST package) still matches. They were computed from
copies verified against the published MD5 lists (MNIST: the canonical list; Fashion-MNIST: upstream's
README; ``housing.csv``: ageron/handson-ml2). Only those files have them: Keras' ``mnist.npz``,
StatLib's ``cal_housing.data``, CIFAR-10 and IMDB are checked by their counts.
"""
from __future__ import annotations

import hashlib
import warnings

from fnnet._checks import caller_stacklevel

#: Examples per split of each known dataset (CIFAR-10: per batch file; IMDB: per class folder).
EXPECTED_COUNTS = {
    "MNIST": {"train": 60_000, "test": 10_000},
    "Fashion-MNIST": {"train": 60_000, "test": 10_000},
    "CIFAR-10": {"batch": 10_000, "train": 50_000, "test": 10_000},
    "IMDB": {"class": 12_500, "train": 25_000, "test": 25_000},
    "California housing": {"rows": 20_640},
}

#: SHA-256 of the decompressed canonical IDX files, by dataset and part.
IDX_SHA256 = {
    "MNIST": {
        "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "Fashion-MNIST": {
        "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

#: SHA-256 of the Hands-On ML ``housing.csv`` (1,423,529 bytes; also the member of its ``housing.tgz``).
HOUSING_CSV_SHA256 = "8a3727f4cf54ac1a327f69b1d5b4db54c5834ea81c6e4efc0d163300022a685e"

class IncompleteDatasetError(ValueError):
    """A known dataset's files hold the wrong number of examples or are not the canonical files."""


class PartialDatasetWarning(UserWarning):
    """Issued instead of :class:`IncompleteDatasetError` when a loader is given ``allow_partial=True``."""


def sha256(*chunks) -> str:
    """Hex SHA-256 of the concatenated byte chunks (bytes or contiguous buffers such as numpy arrays)."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


class Checks:
    """Collects the count and checksum problems of one load, then raises or warns once (:meth:`finish`).

    ``title`` is the dataset's name for messages ("MNIST"); ``allow_partial`` turns the error into a
    :class:`PartialDatasetWarning`. A file that already has a wrong count is not also reported for its
    checksum (it cannot match).
    """

    def __init__(self, title: str, *, allow_partial: bool):
        if not isinstance(allow_partial, bool):
            raise TypeError(f"allow_partial must be True or False, got {allow_partial!r}")
        self.title, self.allow_partial = title, allow_partial
        self.problems: dict[str, str] = {}

    def count(self, where: str, unit: str, got: int, expected: int) -> None:
        """Records a problem when ``where`` (a file or folder) holds ``got`` ``unit`` instead of ``expected``."""
        if got != expected:
            self.problems[where] = f"{where}: {got:,} {unit}, expected {expected:,}"

    def digest(self, where: str, got: str, expected: str) -> None:
        """Records a problem when the content digest ``got`` of ``where`` is not the canonical ``expected``."""
        if got != expected and where not in self.problems:
            self.problems[where] = (
                f"{where}: content differs from the canonical file (sha256 {got[:12]}..., expected {expected[:12]}...)"
            )

    def finish(self) -> None:
        """Raises :class:`IncompleteDatasetError` listing every problem, or warns with ``allow_partial``."""
        if not self.problems:
            return
        listed = "\n".join(f"  - {problem}" for problem in self.problems.values())
        if self.allow_partial:
            warnings.warn(
                f"loading an incomplete or non-canonical {self.title} because allow_partial=True:\n{listed}",
                PartialDatasetWarning,
                stacklevel=caller_stacklevel(),
            )
            return
        raise IncompleteDatasetError(
            f"{self.title} is incomplete or damaged (a partial download or extraction?):\n{listed}\n"
            "Replace the files with complete ones, or pass allow_partial=True to load them anyway (with a warning)."
        )

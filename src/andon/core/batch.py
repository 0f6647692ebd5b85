"""The Batch: the unit of the hot path, columnar so no sample is ever a Python object.

A Batch carries its own small tag dictionary (``tags``, a tuple of tag paths) and, per sample,
``tag_id``: an index into that dictionary. A source therefore needs no database to name its
signals; the historian maps the dictionary onto its own ids with one array lookup per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from andon.core.quality import GOOD

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True, eq=False)
class Batch:
    """Samples of one or many tags: ``ts`` (int64 ns UTC), ``tag_id``, ``value``, ``quality``.

    ``strings`` is the small side list for string-valued samples: ``(row, text)`` pairs whose
    numeric ``value`` is NaN.
    """

    tags: tuple[str, ...]
    ts: I64
    tag_id: I32
    value: F64
    quality: U8
    strings: tuple[tuple[int, str], ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.ts)
        if not (len(self.tag_id) == len(self.value) == len(self.quality) == n):
            raise ValueError(
                f"Batch columns differ in length: ts {n}, tag_id {len(self.tag_id)}, "
                f"value {len(self.value)}, quality {len(self.quality)}"
            )
        if self.ts.dtype != np.int64 or self.tag_id.dtype != np.int32:
            raise TypeError("Batch.ts must be int64 and Batch.tag_id int32")
        if self.value.dtype != np.float64 or self.quality.dtype != np.uint8:
            raise TypeError("Batch.value must be float64 and Batch.quality uint8")
        if n and (int(self.tag_id.min()) < 0 or int(self.tag_id.max()) >= len(self.tags)):
            raise ValueError("Batch.tag_id refers outside its tag dictionary")

    @classmethod
    def build(
        cls,
        tags: Sequence[str],
        ts: npt.ArrayLike,
        tag_id: npt.ArrayLike,
        value: npt.ArrayLike,
        quality: npt.ArrayLike | None = None,
    ) -> Batch:
        """Make a Batch from array-likes, converting dtypes; quality defaults to GOOD."""
        ts_a = np.asarray(ts, dtype=np.int64)
        q = (
            np.full(len(ts_a), GOOD, dtype=np.uint8)
            if quality is None
            else np.asarray(quality, dtype=np.uint8)
        )
        return cls(
            tags=tuple(tags),
            ts=ts_a,
            tag_id=np.asarray(tag_id, dtype=np.int32),
            value=np.asarray(value, dtype=np.float64),
            quality=q,
        )

    @classmethod
    def empty(cls, tags: Sequence[str] = ()) -> Batch:
        return cls.build(tags, [], [], [])

    def __len__(self) -> int:
        return len(self.ts)

    def tag_paths(self) -> list[str]:
        """The tag path of every sample (a Python list: for tests and small exports only)."""
        return [self.tags[i] for i in self.tag_id.tolist()]

    def select(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Batch:
        """The samples picked by a boolean mask or an index array (string side list follows)."""
        idx = np.flatnonzero(mask) if np.asarray(mask).dtype == np.bool_ else np.asarray(mask)
        strings: tuple[tuple[int, str], ...] = ()
        if self.strings:
            pos = {int(old): new for new, old in enumerate(idx.tolist())}
            strings = tuple((pos[r], s) for r, s in self.strings if r in pos)
        return Batch(
            self.tags,
            self.ts[idx],
            self.tag_id[idx],
            self.value[idx],
            self.quality[idx],
            strings,
        )

    def sorted(self) -> Batch:
        """The same samples ordered by (tag, ts)."""
        order = np.lexsort((self.ts, self.tag_id))
        return self.select(order)

    @staticmethod
    def concat(batches: Sequence[Batch]) -> Batch:
        """One batch from several, merging their tag dictionaries."""
        if not batches:
            return Batch.empty()
        tags: dict[str, int] = {}
        ids = []
        strings: list[tuple[int, str]] = []
        offset = 0
        for b in batches:
            remap = np.array([tags.setdefault(t, len(tags)) for t in b.tags], dtype=np.int32)
            ids.append(remap[b.tag_id] if len(b) else b.tag_id)
            strings.extend((r + offset, s) for r, s in b.strings)
            offset += len(b)
        return Batch(
            tuple(tags),
            np.concatenate([b.ts for b in batches]),
            np.concatenate(ids).astype(np.int32, copy=False),
            np.concatenate([b.value for b in batches]),
            np.concatenate([b.quality for b in batches]),
            tuple(strings),
        )

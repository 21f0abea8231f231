"""The ``shard`` argument of the GPU backends' primitives, as ``gib::Shard`` of
``csrc/include/gib/common.h``: part ``index`` of ``count`` near-equal contiguous parts of a
kernel's independent units of work (anchors, columns). A primitive given a shard fills only the
outputs of its part and leaves the others at 0, so the sum over every part is the whole.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def begin(self, units: int) -> int:
        return units * self.index // self.count

    def end(self, units: int) -> int:
        return units * (self.index + 1) // self.count

    def range(self, units: int) -> tuple[int, int]:
        """[begin, end) of this part of `units` units."""
        return self.begin(units), self.end(units)

    @property
    def whole(self) -> bool:
        return self.count == 1


def shard_of(shard) -> Shard:
    """A validated Shard from None (all the work) or (index, count)."""
    if shard is None:
        return Shard()
    index, count = (operator.index(v) for v in shard)
    if not (count >= 1 and 0 <= index < count):
        raise ValueError("shard must be (index, count) with 0 <= index < count")
    return Shard(index, count)

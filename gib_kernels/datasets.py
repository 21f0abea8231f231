"""Built-in data sets (no download)."""
from __future__ import annotations

import numpy as np

# The 12 input positions are the vertices of an icosahedron (Shwartz-Ziv & Tishby 2017).
_ICOSAHEDRON_NEIGHBOURS = {
    0: (1, 3, 5, 10, 11), 1: (0, 2, 3, 4, 11), 2: (1, 3, 4, 8, 9), 3: (0, 1, 2, 8, 10),
    4: (1, 2, 6, 9, 11), 5: (0, 6, 7, 10, 11), 6: (4, 5, 7, 9, 11), 7: (5, 6, 8, 9, 10),
    8: (2, 3, 7, 9, 10), 9: (2, 4, 6, 7, 8), 10: (0, 3, 5, 7, 8), 11: (0, 1, 4, 5, 6),
}
_ANTIPODAL_PAIRS = ((0, 9), (1, 7), (2, 5), (3, 6), (4, 10), (8, 11))


def tishby_12bit() -> tuple[np.ndarray, np.ndarray]:
    """The 12-bit task of Shwartz-Ziv & Tishby (2017), rebuilt from its rule.

    Returns ``(X, y)``: ``X`` float32 (4096, 12), row i the binary digits of i (most significant
    first); ``y`` int64 (4096,). With pc the number of ones, A the number of the icosahedron's 30
    edges with both ends 1 and B the number of antipodal pairs with both ends 1, the label is 1 iff
    pc >= 8, or pc = 7 and not (A = 8 and B = 2), or pc = 6 and (A >= 7 or (A = 6 and B = 0)), or
    pc = 5 and A = 7. That gives 2118 ones (H(Y) = 0.99916 bits), label for label the published
    ``var_u.mat``.
    """
    bits = (np.arange(4096)[:, None] >> np.arange(11, -1, -1)[None, :]) & 1
    edges = np.array(sorted({tuple(sorted((a, b))) for a, nbrs in _ICOSAHEDRON_NEIGHBOURS.items()
                             for b in nbrs}))
    antipodal = np.array(_ANTIPODAL_PAIRS)
    pc = bits.sum(1)
    a = (bits[:, edges[:, 0]] & bits[:, edges[:, 1]]).sum(1)
    b = (bits[:, antipodal[:, 0]] & bits[:, antipodal[:, 1]]).sum(1)
    y = ((pc >= 8)
         | ((pc == 7) & ~((a == 8) & (b == 2)))
         | ((pc == 6) & ((a >= 7) | ((a == 6) & (b == 0))))
         | ((pc == 5) & (a == 7)))
    return bits.astype(np.float32), y.astype(np.int64)

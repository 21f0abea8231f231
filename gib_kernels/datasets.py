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


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled handwritten digits (1797 images of 8x8 pixels, 10 classes; read
    from the installed package, no download).

    Returns ``(X, y)``: ``X`` float32 (1797, 1, 8, 8), the pixel intensities 0..16 scaled to
    [0, 1] (17 levels, steps of 1/16), one channel for a CNN; ``y`` int64 (1797,), the digit.
    """
    from sklearn.datasets import load_digits  # a runtime dependency, imported when used

    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)[:, None, :, :]
    return images, data.target.astype(np.int64)


def matching_tokens(n: int = 3000, length: int = 8, vocabulary: int = 8,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A sequence task whose label is an interaction of two tokens: y = 1 iff the first and the
    last token are equal. Each token alone says nothing about y (every value of the first token
    is as likely under both labels, and so is every value of the last): the label is pure
    synergy of the pair, and the tokens between are distractors.

    Returns ``(tokens, y)``: ``tokens`` int64 (n, length), uniform over ``vocabulary`` except
    that the last token repeats the first in half the rows (drawn at random); ``y`` int64 (n,).
    """
    if length < 2 or vocabulary < 2 or n < 1:
        raise ValueError(f"matching_tokens needs n >= 1, length >= 2 and vocabulary >= 2; got "
                         f"n={n}, length={length}, vocabulary={vocabulary}")
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocabulary, size=(n, length))
    match = rng.random(n) < 0.5
    # A non-matching row gets a last token drawn from the other vocabulary - 1 values.
    other = (tokens[:, 0] + rng.integers(1, vocabulary, size=n)) % vocabulary
    tokens[:, -1] = np.where(match, tokens[:, 0], other)
    return tokens.astype(np.int64), match.astype(np.int64)

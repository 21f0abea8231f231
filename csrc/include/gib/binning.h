// Plug-in entropy of discrete patterns (rows of integer codes), and its fused
// leave-one-feature-out form.
//
// Shapes: codes (n, m) int64 row-major (any values: bin indices, labels, bits); fixed (n, f)
// int64 or nullptr: columns that are part of every pattern and never left out (the target in
// H(Z_-j, Y)). Patterns are identified through 128-bit row hashes built from random per-column
// codes, h = sum_j H_j[code_ij] (mod 2^64, two independent lanes); the row without column j is
// h - H_j[code_ij]. Collisions are possible in principle (about n^2 / 2^129) and tested against
// exact counting. Results are deterministic (fixed hash seeds, fixed reduction order).
#pragma once

#include <vector>

#include "gib/common.h"

namespace gib {

// Sizes of the classes of identical rows of [codes, fixed], in ascending order of the classes'
// 128-bit hashes (unsigned, lane a then lane b). With `hashes`, also the classes' hashes, two
// entries (a, b) per class: the classes of row blocks counted apart merge exactly by hash,
// which is how sharded estimation adds up its parts.
std::vector<int64_t> pattern_counts_cpu(const int64_t* codes, int64_t n, int64_t m,
                                        const int64_t* fixed, int64_t f,
                                        std::vector<uint64_t>* hashes = nullptr);

// out (m + 1,): out[j] = sum over the distinct rows of [codes without column j, fixed] of
// c log c (c the row's count, natural log); out[m] the same for all of codes. The entropy in
// nats is log(n) - out[j] / n. A shard (common.h) owns a part of the columns 0..m-1: out[j] of
// other columns is 0, and out[m] is 0 except on shard 0. out[j] does not depend on the shard.
void binning_loo_cpu(const int64_t* codes, int64_t n, int64_t m, const int64_t* fixed, int64_t f,
                     double* out, Shard shard = {});

}  // namespace gib

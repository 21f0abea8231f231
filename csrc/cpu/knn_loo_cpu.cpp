// STUB: to be implemented
#include <stdexcept>
#include "gib/knn_loo.h"
namespace gib {
void knn_loo_maxnorm_cpu(const double*, int64_t, int64_t, const int64_t*, const double*, int64_t, int64_t, double*) { throw std::runtime_error("not implemented"); }
void knn_loo_euclidean_cpu(const double*, int64_t, int64_t, int64_t, double*) { throw std::runtime_error("not implemented"); }
}

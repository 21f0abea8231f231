// STUB: to be implemented
#include <stdexcept>
#include "gib/knn.h"
namespace gib {
void kth_neighbor_distance_cpu(const double*, int64_t, int64_t, const int64_t*, int64_t, Metric, double*) { throw std::runtime_error("not implemented"); }
void count_within_cpu(const double*, int64_t, int64_t, const double*, Metric, int64_t*) { throw std::runtime_error("not implemented"); }
}

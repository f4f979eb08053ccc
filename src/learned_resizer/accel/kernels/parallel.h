/* A kernel's rows split over OpenMP threads. Built with -fopenmp, the kernels link the libgomp
   that PyTorch has already loaded (one per process), so they run on PyTorch's own thread team:
   a second team would compete for the cores with PyTorch's threads, which spin for a while after
   each of its ops. Without OpenMP the kernels run on the calling thread. */
#ifndef LEARNED_RESIZER_PARALLEL_H
#define LEARNED_RESIZER_PARALLEL_H
#include <stddef.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* this thread's index, and its share [begin, end) of `rows` rows in whole multiples of `align` */
static inline int share(ptrdiff_t rows, ptrdiff_t align, ptrdiff_t *begin, ptrdiff_t *end) {
#ifdef _OPENMP
    int k = omp_get_thread_num(), t = omp_get_num_threads();
#else
    int k = 0, t = 1;
#endif
    ptrdiff_t step = ((rows + t - 1) / t + align - 1) / align * align;
    *begin = k * step < rows ? k * step : rows;
    *end = *begin + step < rows ? *begin + step : rows;
    return k;
}
#endif

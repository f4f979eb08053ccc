/* 16-lane float32 vectors (one AVX-512 register, or two or four narrower ones) for the kernels. */
#ifndef LEARNED_RESIZER_VECTOR_H
#define LEARNED_RESIZER_VECTOR_H
#include <string.h>

#ifndef NV
#define NV 1
#endif
#define C (16 * NV) /* channels: NV vectors a pixel */

typedef float vf __attribute__((vector_size(64)));
typedef int vi __attribute__((vector_size(64)));

static inline vf load(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void store(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* where(key > 0, v, v * slope): LeakyReLU of v, or its backward pass with v the gradient */
static inline vf scale_negative(vf key, vf v, float slope) {
    const vf zero = {0};
    vi positive = key > zero;
    return (vf)(((vi)v & positive) | ((vi)(v * slope) & ~positive));
}

/* the sum of v's 16 lanes */
static inline float lane_sum(vf v) {
    v += __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
    v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    v += __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    return v[0];
}
#endif

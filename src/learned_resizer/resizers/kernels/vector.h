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
#endif

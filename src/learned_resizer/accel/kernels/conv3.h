/* A 7x7 convolution from 3 channels to C = 16 * NV, vectorised over the C outputs: the resizer's
   first convolution (stem.c) and the input gradient of its last one (to_image.c), which is a
   convolution of the 3-channel gradient with the flipped kernel.

   Inputs are channels-last rows of 3 floats a pixel, zero-padded by R, `stride` floats apart.
   For output pixel x of a row whose tap ky = 0 is the padded row `top`, and taps d = (ky, kx, c):
       u[x] = activation(bias + sum over d of top[ky * stride + (x + kx) * 3 + c] * wv[d])
   with wv[d] a C-vector and the activation LeakyReLU (a slope of 1 leaves the sum as it is). */
#ifndef LEARNED_RESIZER_CONV3_H
#define LEARNED_RESIZER_CONV3_H
#include <stddef.h>

#include "vector.h"

#define K 7
#define R 3 /* K / 2 */
#define PX (NV < 16 ? 16 / NV : 1) /* pixels a block of accumulators covers */

#if defined(__GNUC__) && !defined(__clang__)
/* GCC's predictive commoning carries a tap's image values over to the next taps in registers,
   spilling the accumulators; without it each multiply-add reads its value from memory. Set for
   the whole file that includes this one: GCC does not inline across different options */
#pragma GCC optimize("no-predictive-commoning")
#endif

/* u for the px pixels from column x: a weight vector loaded once serves all of them */
static inline void convolve_pixels(const float *restrict top, ptrdiff_t stride, ptrdiff_t x, const float *restrict wv,
                                   const vf *bias, float slope, float *restrict u, const int px) {
    vf acc[PX][NV];
    for (int i = 0; i < px; i++)
        for (int q = 0; q < NV; q++) acc[i][q] = bias[q];
    for (int ky = 0; ky < K; ky++) {
        const float *row = top + ky * stride + x * 3;
        for (int t = 0; t < K * 3; t++) { /* (kx, c): the image values of tap t, 3 apart from pixel to pixel */
            const float *tap = wv + (ky * K * 3 + t) * C, *value = row + t;
            for (int q = 0; q < NV; q++) {
                vf weight = load(tap + 16 * q);
                for (int i = 0; i < px; i++) acc[i][q] += weight * value[3 * i];
            }
        }
    }
    for (int i = 0; i < px; i++)
        for (int q = 0; q < NV; q++) store(u + i * C + 16 * q, scale_negative(acc[i][q], acc[i][q], slope));
}

/* u of columns [x0, x1) into u[0 .. (x1 - x0) * C) */
static void convolve_chunk(const float *top, ptrdiff_t stride, ptrdiff_t x0, ptrdiff_t x1, const float *restrict wv,
                           const vf *bias, float slope, float *restrict u) {
    ptrdiff_t x = x0;
    for (; x + PX <= x1; x += PX) convolve_pixels(top, stride, x, wv, bias, slope, u + (x - x0) * C, PX);
    for (; x < x1; x++) convolve_pixels(top, stride, x, wv, bias, slope, u + (x - x0) * C, 1);
}

#endif

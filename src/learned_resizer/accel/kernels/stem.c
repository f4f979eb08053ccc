/* The learned resizer's full-resolution stage, forward and backward, in one pass each.

   The image comes channels-last in float32 and zero-padded by R = 3 pixels: pad is
   (N, H + 6, W + 6, 3). For each pixel p of (N, H, W), with C = 16 * NV filters:
       u = LeakyReLU_in(b_in + sum over taps d of image(p + d) wv[d])   (the 7x7 convolution, 3 -> C)
       a = LeakyReLU_pw(W u + b)                                        (the 1x1 convolution)
       sums[0:C] += a,  sums[C:2C] += a^2                               (BatchNorm's statistics)
   and a is stored, or where `pooled` is not NULL its 2x2 average (the bilinear or area resize to
   half of an even size; a is then NULL). A tap d is (ky, kx, c), wv[d][o] = W_in[o][c][ky][kx],
   and wt[j][o] = W[o][j].
   Where `saved` is not NULL, u is stored there, (N, H, W, C), for the backward pass, which
   takes u from it and recomputes a. Given da (the gradient of a, or of pooled) and g1, g2 (those
   of the two sums):
       dy = (da + g1 + 2 g2 a) * LeakyReLU_pw'(a);   dW += dy u^T,  db += dy
       dh = (W^T dy) * LeakyReLU_in'(u);             db_in += dh,   dwv[d] += image(p + d) dh
   and dh is stored where it is not NULL (PyTorch takes the image's gradient from it).
   The slopes are positive, so the sign of an activation's output is the sign of its input.
   The N * H image rows are split over threads (with pooling, in whole pairs) and done in chunks
   of at most CHUNK pixels, whose u (in the forward pass) and dh stay in cache. Returns 1 where scratch memory cannot
   be allocated. */
#include <stddef.h>
#include <stdlib.h>

#include "conv3.h"
#include "parallel.h"

#define CHUNK 512

/* a = LeakyReLU_pw(W u + b) of one pixel */
static inline void pointwise(const float *restrict u, const float *restrict wt, const vf *bias, float slope_pw, vf *a) {
    for (int q = 0; q < NV; q++) a[q] = bias[q];
    for (int j = 0; j < C; j++)
        for (int q = 0; q < NV; q++) a[q] += load(wt + j * C + 16 * q) * u[j];
    for (int q = 0; q < NV; q++) a[q] = scale_negative(a[q], a[q], slope_pw);
}

/* the padded image row of tap ky = 0 for flattened output row r */
static inline const float *padded_row(const float *pad, ptrdiff_t r, ptrdiff_t height, ptrdiff_t stride) {
    return pad + ((r / height) * (height + 2 * R) + r % height) * stride;
}

static int forward_rows(const float *restrict pad, const float *restrict wv, const float *restrict b_in, const float *restrict wt,
                        const float *restrict b, float slope_in, float slope_pw, double *restrict sums, float *restrict a,
                        float *restrict pooled, float *restrict saved, ptrdiff_t height, ptrdiff_t width, ptrdiff_t begin,
                        ptrdiff_t end) {
    float *u = saved ? NULL : aligned_alloc(sizeof(vf), CHUNK * C * sizeof(float)); /* u of a chunk, where not saved */
    if (!saved && !u) return 1;
    vf bias_in[NV], bias[NV];
    for (int q = 0; q < NV; q++) {
        bias_in[q] = load(b_in + 16 * q);
        bias[q] = load(b + 16 * q);
    }
    ptrdiff_t stride = (width + 2 * R) * 3;
    for (ptrdiff_t r = begin; r < end; r++) {
        const float *top = padded_row(pad, r, height, stride);
        for (ptrdiff_t x0 = 0; x0 < width; x0 += CHUNK) {
            ptrdiff_t x1 = x0 + CHUNK < width ? x0 + CHUNK : width;
            float *uc = saved ? saved + (r * width + x0) * C : u;
            convolve_chunk(top, stride, x0, x1, wv, bias_in, slope_in, uc);
            vf s1[NV] = {{0}}, s2[NV] = {{0}}; /* float partial sums of one chunk, then double */
            for (ptrdiff_t x = x0; x < x1; x++) {
                vf av[NV];
                pointwise(uc + (x - x0) * C, wt, bias, slope_pw, av);
                for (int q = 0; q < NV; q++) {
                    s1[q] += av[q];
                    s2[q] += av[q] * av[q];
                }
                if (pooled) {
                    float *p = pooled + ((r >> 1) * (width >> 1) + (x >> 1)) * C;
                    int first = !(r & 1) && !(x & 1);
                    for (int q = 0; q < NV; q++) store(p + 16 * q, first ? av[q] * 0.25f : load(p + 16 * q) + av[q] * 0.25f);
                } else {
                    for (int q = 0; q < NV; q++) store(a + (r * width + x) * C + 16 * q, av[q]);
                }
            }
            for (int q = 0; q < NV; q++)
                for (int k = 0; k < 16; k++) {
                    sums[16 * q + k] += s1[q][k];
                    sums[C + 16 * q + k] += s2[q][k];
                }
        }
    }
    free(u);
    return 0;
}

static int backward_rows(const float *restrict pad, const float *restrict u, const float *restrict w,
                         const float *restrict wt, const float *restrict b, const float *restrict da, const float *restrict g1,
                         const float *restrict g2, float slope_in, float slope_pw, int pooled, float *restrict dh,
                         double *restrict dwv, double *restrict dw, double *restrict db, double *restrict db_in,
                         ptrdiff_t height, ptrdiff_t width, ptrdiff_t begin, ptrdiff_t end) {
    /* w is W itself, w[o * C + j], and dw has its layout; dwv has wv's */
    float *d = aligned_alloc(sizeof(vf), CHUNK * C * sizeof(float)); /* dh of the chunk */
    if (!d) return 1;
    vf bias[NV], c1[NV], c2[NV];
    for (int q = 0; q < NV; q++) {
        bias[q] = load(b + 16 * q);
        c1[q] = load(g1 + 16 * q);
        c2[q] = load(g2 + 16 * q) * 2.0f;
    }
    const float share = pooled ? 0.25f : 1.0f;
    ptrdiff_t stride = (width + 2 * R) * 3;
    for (ptrdiff_t r = begin; r < end; r++) {
        const float *top = padded_row(pad, r, height, stride);
        for (ptrdiff_t x0 = 0; x0 < width; x0 += CHUNK) {
            ptrdiff_t x1 = x0 + CHUNK < width ? x0 + CHUNK : width;
            vf tw[C][NV] = {{{0}}}, tb[NV] = {{0}}, tb_in[NV] = {{0}}; /* tw[j][q][k]: dW[16 q + k][j] over the chunk */
            for (ptrdiff_t x = x0; x < x1; x++) {
                const float *restrict ux = u + (r * width + x) * C;
                const float *restrict dax = pooled ? da + ((r >> 1) * (width >> 1) + (x >> 1)) * C : da + (r * width + x) * C;
                vf av[NV], du[NV];
                float dy[C];
                pointwise(ux, wt, bias, slope_pw, av);
                for (int q = 0; q < NV; q++) {
                    vf v = scale_negative(av[q], load(dax + 16 * q) * share + c1[q] + c2[q] * av[q], slope_pw);
                    store(dy + 16 * q, v);
                    tb[q] += v;
                    du[q] = (vf){0};
                }
                for (int o = 0; o < C; o++)
                    for (int q = 0; q < NV; q++) du[q] += load(w + o * C + 16 * q) * dy[o];
                for (int j = 0; j < C; j++)
                    for (int q = 0; q < NV; q++) tw[j][q] += load(dy + 16 * q) * ux[j];
                for (int q = 0; q < NV; q++) {
                    vf v = scale_negative(load(ux + 16 * q), du[q], slope_in);
                    store(d + (x - x0) * C + 16 * q, v);
                    tb_in[q] += v;
                    if (dh) store(dh + (r * width + x) * C + 16 * q, v);
                }
            }
            for (int q = 0; q < NV; q++)
                for (int k = 0; k < 16; k++) {
                    for (int j = 0; j < C; j++) dw[(16 * q + k) * C + j] += tw[j][q][k];
                    db[16 * q + k] += tb[q][k];
                    db_in[16 * q + k] += tb_in[q][k];
                }
            /* the 7x7 convolution's weights: dwv[(ky, kx, c)] += image(p + d) dh(p) over the chunk */
            for (int ky = 0; ky < K; ky++)
                for (int q = 0; q < NV; q++) {
                    vf acc[K][3] = {{{0}}};
                    const float *row = top + ky * stride + x0 * 3;
                    for (ptrdiff_t x = 0; x < x1 - x0; x++) {
                        vf g = load(d + x * C + 16 * q);
                        for (int kx = 0; kx < K; kx++)
                            for (int c = 0; c < 3; c++) acc[kx][c] += g * row[(x + kx) * 3 + c];
                    }
                    for (int kx = 0; kx < K; kx++)
                        for (int c = 0; c < 3; c++)
                            for (int k = 0; k < 16; k++) dwv[((ky * K + kx) * 3 + c) * C + 16 * q + k] += acc[kx][c][k];
                }
        }
    }
    free(d);
    return 0;
}

/* The entry points: the N * height rows on `threads` threads, thread k adding into the k-th
   of `threads` consecutive copies of each sum (sums: 2C doubles; dwv: 147 C, dw: C C, db and
   db_in: C each). */
int stem_forward(const float *pad, const float *wv, const float *b_in, const float *wt, const float *b, float slope_in,
                 float slope_pw, double *sums, float *a, float *pooled, float *saved, ptrdiff_t n, ptrdiff_t height,
                 ptrdiff_t width, int threads) {
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        ptrdiff_t begin, end;
        int k = share(n * height, pooled ? 2 : 1, &begin, &end);
        if (begin < end) failed |= forward_rows(pad, wv, b_in, wt, b, slope_in, slope_pw, sums + k * 2 * C, a, pooled, saved, height, width, begin, end);
    }
    return failed;
}

int stem_backward(const float *pad, const float *u, const float *w, const float *wt, const float *b, const float *da,
                  const float *g1, const float *g2, float slope_in, float slope_pw, int pooled, float *dh, double *dwv,
                  double *dw, double *db, double *db_in, ptrdiff_t n, ptrdiff_t height, ptrdiff_t width, int threads) {
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        ptrdiff_t begin, end;
        int k = share(n * height, pooled ? 2 : 1, &begin, &end);
        if (begin < end)
            failed |= backward_rows(pad, u, w, wt, b, da, g1, g2, slope_in, slope_pw, pooled, dh, dwv + k * K * K * 3 * C,
                                    dw + k * C * C, db + k * C, db_in + k * C, height, width, begin, end);
    }
    return failed;
}

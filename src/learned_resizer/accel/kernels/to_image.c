/* The learned resizer's last convolution, 7x7 from C = 16 * NV channels to 3, zero padding 3.

   Tensors are channels-last float32: z is (N, H, W, C), out and g are (N, H, W, 3). A pixel's C
   channels are NV 16-lane vectors, so every tap is a vector multiply-add over the input
   channels, where a library convolution vectorising over 3 output channels leaves most lanes idle.
   Weights come as wv[(ky * 7 + kx) * 3 + o][c] = W[o][c][ky][kx].

       forward:       out[p][o] = b[o] + sum over taps d of <z[p + d], wv[d][o]>
       input grad:    dz[p] = sum over d, o of g[p - d][o] * wv[d][o]   (conv3.h, with the kernel flipped)
       weight grad:   dwv[d][o] += sum over p of g[p][o] * z[p + d]

   The N * H image rows are split over threads; each copies the rows it reads, with their 3-pixel
   zero border, into a scratch band, so that no tap needs a bounds check. */
#include <stddef.h>
#include <stdlib.h>

#include "conv3.h"
#include "parallel.h"

#define TAPS (K * K)

/* out for the `px` pixels from column x of band row `top` (the tap ky = 0): a weight vector
   loaded once serves all of them */
static inline void forward_pixels(const float *top, ptrdiff_t stride, ptrdiff_t x, const float *restrict wv,
                                  const float *restrict b, float *restrict out, const int px) {
    vf acc[4][3];
    memset(acc, 0, sizeof acc);
    for (int ky = 0; ky < K; ky++) {
        const float *row = top + ky * stride + x * C;
        for (int kx = 0; kx < K; kx++)
            for (int q = 0; q < NV; q++) {
                const float *tap = wv + ((ky * K + kx) * 3) * C + 16 * q;
                vf w0 = load(tap), w1 = load(tap + C), w2 = load(tap + 2 * C);
                for (int i = 0; i < px; i++) {
                    vf v = load(row + (kx + i) * C + 16 * q);
                    acc[i][0] += v * w0;
                    acc[i][1] += v * w1;
                    acc[i][2] += v * w2;
                }
            }
    }
    for (int i = 0; i < px; i++)
        for (int k = 0; k < 3; k++) out[(x + i) * 3 + k] = b[k] + lane_sum(acc[i][k]);
}

/* rows y0 - R .. y1 + R of image `image` (channels per pixel `ch`) into band, zero outside */
static void copy_band(float *band, const float *image, ptrdiff_t h, ptrdiff_t w, int ch, ptrdiff_t y0, ptrdiff_t y1) {
    ptrdiff_t stride = (w + 2 * R) * ch;
    memset(band, 0, (size_t)((y1 - y0 + 2 * R) * stride) * sizeof(float));
    for (ptrdiff_t y = y0 - R; y < y1 + R; y++)
        if (y >= 0 && y < h) memcpy(band + (y - y0 + R) * stride + R * ch, image + y * w * ch, (size_t)(w * ch) * sizeof(float));
}

/* runs the statements that follow for each image n and its rows [y0, y1) that the flattened rows [begin, end) cover */
#define FOR_BANDS(h, begin, end, ...)                                           \
    for (ptrdiff_t n = (begin) / (h); n * (h) < (end); n++) {                   \
        ptrdiff_t y0 = (begin) > n * (h) ? (begin) - n * (h) : 0;               \
        ptrdiff_t y1 = (end) < (n + 1) * (h) ? (end) - n * (h) : (h);           \
        __VA_ARGS__                                                             \
    }

static int forward_rows(const float *restrict z, const float *restrict wv, const float *restrict b, float *restrict out,
                     ptrdiff_t h, ptrdiff_t w, ptrdiff_t begin, ptrdiff_t end) {
    ptrdiff_t rows = end - begin < h ? end - begin : h;
    float *band = malloc((size_t)((rows + 2 * R) * (w + 2 * R) * C) * sizeof(float));
    if (!band) return 1;
    ptrdiff_t stride = (w + 2 * R) * C;
    FOR_BANDS(h, begin, end, {
        copy_band(band, z + n * h * w * C, h, w, C, y0, y1);
        for (ptrdiff_t y = y0; y < y1; y++) {
            const float *top = band + (y - y0) * stride;
            float *row_out = out + (n * h + y) * w * 3;
            ptrdiff_t x = 0;
            for (; x + 4 <= w; x += 4) forward_pixels(top, stride, x, wv, b, row_out, 4);
            for (; x < w; x++) forward_pixels(top, stride, x, wv, b, row_out, 1);
        }
    })
    free(band);
    return 0;
}

static int input_grad_rows(const float *restrict g, const float *restrict wf, float *restrict dz,
                        ptrdiff_t h, ptrdiff_t w, ptrdiff_t begin, ptrdiff_t end) {
    /* wf is the flipped kernel, wf[(ky * 7 + kx) * 3 + o][c] = W[o][c][6 - ky][6 - kx]: dz is g's
       convolution with it, which conv3.h computes */
    ptrdiff_t rows = end - begin < h ? end - begin : h;
    float *band = malloc((size_t)((rows + 2 * R) * (w + 2 * R) * 3) * sizeof(float));
    if (!band) return 1;
    const vf zero[NV] = {{0}};
    ptrdiff_t stride = (w + 2 * R) * 3;
    FOR_BANDS(h, begin, end, {
        copy_band(band, g + n * h * w * 3, h, w, 3, y0, y1);
        for (ptrdiff_t y = y0; y < y1; y++) convolve_chunk(band + (y - y0) * stride, stride, 0, w, wf, zero, 1.0f, dz + (n * h + y) * w * C);
    })
    free(band);
    return 0;
}

static int weight_grad_rows(const float *restrict z, const float *restrict g, double *restrict dwv,
                         ptrdiff_t h, ptrdiff_t w, ptrdiff_t begin, ptrdiff_t end) {
    ptrdiff_t rows = end - begin < h ? end - begin : h;
    float *band = malloc((size_t)((rows + 2 * R) * (w + 2 * R) * C) * sizeof(float));
    vf *partial = aligned_alloc(sizeof(vf), sizeof(vf) * TAPS * 3 * NV); /* vf needs 64-byte alignment */
    if (!band || !partial) {
        free(band);
        free(partial);
        return 1;
    }
    ptrdiff_t stride = (w + 2 * R) * C;
    FOR_BANDS(h, begin, end, {
        copy_band(band, z + n * h * w * C, h, w, C, y0, y1);
        for (ptrdiff_t y = y0; y < y1; y++) {
            memset(partial, 0, sizeof(vf) * TAPS * 3 * NV); /* float sums over one row of pixels */
            const float *gr = g + (n * h + y) * w * 3;
            for (int ky = 0; ky < K; ky++)
                for (int q = 0; q < NV; q++) {
                    vf acc[K][3];
                    memset(acc, 0, sizeof acc);
                    const float *row = band + (y - y0 + ky) * stride + 16 * q;
                    for (ptrdiff_t x = 0; x < w; x++) {
                        float g0 = gr[x * 3], g1 = gr[x * 3 + 1], g2 = gr[x * 3 + 2];
                        for (int kx = 0; kx < K; kx++) {
                            vf v = load(row + (x + kx) * C);
                            acc[kx][0] += v * g0;
                            acc[kx][1] += v * g1;
                            acc[kx][2] += v * g2;
                        }
                    }
                    for (int kx = 0; kx < K; kx++)
                        for (int o = 0; o < 3; o++) partial[((ky * K + kx) * 3 + o) * NV + q] += acc[kx][o];
                }
            for (int t = 0; t < TAPS * 3; t++)
                for (int q = 0; q < NV; q++)
                    for (int k = 0; k < 16; k++) dwv[t * C + 16 * q + k] += partial[t * NV + q][k];
        }
    })
    free(band);
    free(partial);
    return 0;
}

/* The entry points: the N * h rows on `threads` threads; in the weight gradient thread k adds
   into the k-th of `threads` consecutive copies of dwv (147 C doubles each). */
int to_image_forward(const float *z, const float *wv, const float *b, float *out, ptrdiff_t n, ptrdiff_t h, ptrdiff_t w, int threads) {
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        ptrdiff_t begin, end;
        share(n * h, 1, &begin, &end);
        if (begin < end) failed |= forward_rows(z, wv, b, out, h, w, begin, end);
    }
    return failed;
}

int to_image_input_grad(const float *g, const float *wf, float *dz, ptrdiff_t n, ptrdiff_t h, ptrdiff_t w, int threads) {
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        ptrdiff_t begin, end;
        share(n * h, 1, &begin, &end);
        if (begin < end) failed |= input_grad_rows(g, wf, dz, h, w, begin, end);
    }
    return failed;
}

int to_image_weight_grad(const float *z, const float *g, double *dwv, ptrdiff_t n, ptrdiff_t h, ptrdiff_t w, int threads) {
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        ptrdiff_t begin, end;
        int k = share(n * h, 1, &begin, &end);
        if (begin < end) failed |= weight_grad_rows(z, g, dwv + k * TAPS * 3 * C, h, w, begin, end);
    }
    return failed;
}

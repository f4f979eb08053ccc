/* The gradient into 3-channel images through a base model's first convolution (C = 16 * NV
   outputs, a k x k kernel, stride s, zero padding p): what the joint pipeline adds to a step that
   the bilinear baseline does not run. A library computes it as a transposed convolution at a few
   times the cost of the forward pass (49 ms against 11 ms for ResNet-50's 7x7, stride 2, 3 -> 64
   at batch 8 and 224 px); here it is a sum over the output channels, vectorised over them:

       dx[y][x][c] = sum over taps (ky, kx) with (y + p - ky) and (x + p - kx) multiples of s,
                     and over o, of g[(y + p - ky) / s][(x + p - kx) / s][o] * W[o][c][ky][kx]

   g is (N, OH, OW, C) and dx (N, H, W, 3), channels-last float32; wv[(ky * k + kx) * 3 + c][o] =
   W[o][c][ky][kx]. Input pixels x, x + s, x + 2s, x + 3s share their taps and read neighbouring
   pixels of g, so they are computed together, a weight vector loaded once serving all four. The
   N * H rows of dx are split over threads; each copies the rows of g it reads, with a zero
   border, into a scratch band, so that no tap needs a bounds check. */
#include <stddef.h>
#include <stdlib.h>

#include "parallel.h"
#include "vector.h"

#define GROUP 4 /* pixels computed together */

/* floor(a / b) for b > 0 */
static inline ptrdiff_t floor_div(ptrdiff_t a, ptrdiff_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

typedef struct {
    int k, s, p;
    ptrdiff_t oh, ow, h, w;
    ptrdiff_t left;   /* g's column 0 sits this many pixels into a band row */
    ptrdiff_t stride; /* floats per band row */
} geometry;

/* dx for the `px` pixels x, x + s, ... of row y; `band` holds g's rows from `top` on */
static inline void pixels(const geometry *G, const float *restrict band, ptrdiff_t top, ptrdiff_t y, ptrdiff_t x,
                          const float *restrict wv, float *restrict row_out, const int px) {
    vf acc[GROUP][3];
    memset(acc, 0, sizeof acc);
    const int k = G->k, s = G->s;
    for (int ky = (int)((y + G->p) % s); ky < k; ky += s) {
        const float *row = band + ((y + G->p - ky) / s - top) * G->stride;
        for (int kx = (int)((x + G->p) % s); kx < k; kx += s) {
            const float *value = row + ((x + G->p - kx) / s + G->left) * C;
            const float *tap = wv + (size_t)((ky * k + kx) * 3) * C;
            for (int q = 0; q < NV; q++) {
                vf w0 = load(tap + 16 * q), w1 = load(tap + C + 16 * q), w2 = load(tap + 2 * C + 16 * q);
                for (int i = 0; i < px; i++) {
                    vf v = load(value + i * C + 16 * q);
                    acc[i][0] += v * w0;
                    acc[i][1] += v * w1;
                    acc[i][2] += v * w2;
                }
            }
        }
    }
    for (int i = 0; i < px; i++)
        for (int c = 0; c < 3; c++) row_out[(x + i * s) * 3 + c] = lane_sum(acc[i][c]);
}

/* g's rows [top, bottom] of one image into band, zero outside the image and in the border */
static void copy_band(const geometry *G, float *band, const float *g, ptrdiff_t top, ptrdiff_t bottom) {
    memset(band, 0, (size_t)((bottom - top + 1) * G->stride) * sizeof(float));
    for (ptrdiff_t oy = top; oy <= bottom; oy++)
        if (oy >= 0 && oy < G->oh) memcpy(band + (oy - top) * G->stride + G->left * C, g + oy * G->ow * C, (size_t)(G->ow * C) * sizeof(float));
}

static int rows(const geometry *G, const float *restrict g, const float *restrict wv, float *restrict dx,
                ptrdiff_t begin, ptrdiff_t end) {
    const ptrdiff_t h = G->h, w = G->w, s = G->s, reach = G->k - 1 - G->p;
    const ptrdiff_t most = (end - begin < h ? end - begin : h) / s + G->k / s + 2; /* band rows a run of rows needs */
    float *band = malloc((size_t)(most * G->stride) * sizeof(float));
    if (!band) return 1;
    for (ptrdiff_t n = begin / h; n * h < end; n++) {
        ptrdiff_t y0 = begin > n * h ? begin - n * h : 0, y1 = end < (n + 1) * h ? end - n * h : h;
        ptrdiff_t top = floor_div(y0 - reach, s), bottom = floor_div(y1 - 1 + G->p, s);
        copy_band(G, band, g + n * G->oh * G->ow * C, top, bottom);
        for (ptrdiff_t y = y0; y < y1; y++) {
            float *row_out = dx + (n * h + y) * w * 3;
            for (ptrdiff_t phase = 0; phase < s && phase < w; phase++) {
                ptrdiff_t x = phase;
                for (; x + (GROUP - 1) * s < w; x += GROUP * s) pixels(G, band, top, y, x, wv, row_out, GROUP);
                for (; x < w; x += s) pixels(G, band, top, y, x, wv, row_out, 1);
            }
        }
    }
    free(band);
    return 0;
}

/* The entry point: the N * h rows of dx on `threads` threads; 1 where scratch memory ran out. */
int image_grad(const float *g, const float *wv, float *dx, ptrdiff_t n, ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t h, ptrdiff_t w,
               int k, int s, int p, int threads) {
    geometry G = {.k = k, .s = s, .p = p, .oh = oh, .ow = ow, .h = h, .w = w};
    G.left = -floor_div(p - (k - 1), s);
    ptrdiff_t right = floor_div(w - 1 + p, s); /* the last column of g a pixel reads, or beyond */
    G.stride = (G.left + (right > ow - 1 ? right : ow - 1) + 1) * C;
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        ptrdiff_t begin, end;
        share(n * h, 1, &begin, &end);
        if (begin < end) failed |= rows(&G, g, wv, dx, begin, end);
    }
    return failed;
}

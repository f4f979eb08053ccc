/* The learned resizer's full-resolution pointwise block, forward and backward, in one pass each.

   Rows are pixels of a channels-last float32 tensor viewed as (pixels, C), C = 16 * NV. Forward:
       x = LeakyReLU_in(h + b_in)          (h: the 7x7 convolution's output before its bias)
       a = LeakyReLU_pw(x W^T + b)         (the 1x1 convolution)
       sums[0:C] += sum over rows of a,  sums[C:2C] += sum over rows of a^2   (BatchNorm's statistics)
       pooled = the 2x2 average of a, where pooled is not NULL (images `width` pixels wide and of
                an even height and width: the bilinear or area resize to half the size); a is
                then not stored (a is NULL)
   Backward, given da (the gradient of a, or of pooled) and g1, g2 (the gradients of the two sums):
       dy = (da + g1 + 2 g2 a) * LeakyReLU_pw'(a)
       dW += dy^T x,  db += sum of dy,  dh = (dy W) * LeakyReLU_in'(x),  db_in += sum of dh
   The slopes are positive, so the sign of an activation's output is the sign of its input.
   Each call handles rows [begin, end): Python runs one call per thread, on whole pairs of image
   rows where pooling. NV is set at build time. */
#include <stddef.h>
#include <string.h>

#ifndef NV
#define NV 1
#endif
#define C (16 * NV)

typedef float vf __attribute__((vector_size(64)));
typedef int vi __attribute__((vector_size(64)));

static inline vf load(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void store(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* where(key > 0, v, v * slope) */
static inline vf scale_negative(vf key, vf v, float slope) {
    const vf zero = {0};
    vi positive = key > zero;
    return (vf)(((vi)v & positive) | ((vi)(v * slope) & ~positive));
}

void pointwise_forward(const float *restrict h, float *restrict x, float *restrict a, const float *restrict b_in,
                       const float *restrict wt, const float *restrict b, float slope_in, float slope_pw,
                       double *restrict sums, float *restrict pooled, ptrdiff_t width, ptrdiff_t begin, ptrdiff_t end) {
    /* wt is W transposed: wt[j * C + o] = W[o][j] */
    ptrdiff_t row = begin / width, column = begin % width; /* of pixel i, kept up to date below */
    vf bias_in[NV], bias[NV];
    for (int q = 0; q < NV; q++) {
        bias_in[q] = load(b_in + 16 * q);
        bias[q] = load(b + 16 * q);
    }
    for (ptrdiff_t block = begin; block < end; block += 256) {
        ptrdiff_t stop = block + 256 < end ? block + 256 : end;
        vf s1[NV] = {0}, s2[NV] = {0}; /* float partial sums of at most 256 rows, then double */
        for (ptrdiff_t i = block; i < stop; i++) {
            float *restrict xi = x + i * C;
            vf y[NV];
            for (int q = 0; q < NV; q++) {
                vf v = load(h + i * C + 16 * q) + bias_in[q];
                store(xi + 16 * q, scale_negative(v, v, slope_in));
                y[q] = bias[q];
            }
            for (int j = 0; j < C; j++)
                for (int q = 0; q < NV; q++) y[q] += load(wt + j * C + 16 * q) * xi[j];
            for (int q = 0; q < NV; q++) {
                y[q] = scale_negative(y[q], y[q], slope_pw);
                s1[q] += y[q];
                s2[q] += y[q] * y[q];
            }
            if (pooled) {
                float *restrict p = pooled + ((row >> 1) * (width >> 1) + (column >> 1)) * C;
                int first = !(row & 1) && !(column & 1);
                for (int q = 0; q < NV; q++) store(p + 16 * q, first ? y[q] * 0.25f : load(p + 16 * q) + y[q] * 0.25f);
            } else {
                for (int q = 0; q < NV; q++) store(a + i * C + 16 * q, y[q]);
            }
            if (++column == width) {
                column = 0;
                row++;
            }
        }
        for (int q = 0; q < NV; q++)
            for (int k = 0; k < 16; k++) {
                sums[16 * q + k] += s1[q][k];
                sums[C + 16 * q + k] += s2[q][k];
            }
    }
}

void pointwise_backward(const float *restrict da, const float *restrict a, const float *restrict x,
                        const float *restrict w, const float *restrict wt, const float *restrict b,
                        const float *restrict g1, const float *restrict g2,
                        float slope_in, float slope_pw, float *restrict dh, double *restrict dw,
                        double *restrict db, double *restrict db_in, int pooled, ptrdiff_t width,
                        ptrdiff_t begin, ptrdiff_t end) {
    /* w is W itself: w[o * C + j]; dw has the same layout. Where pooled, a is NULL and recomputed
       from x (wt, b as in the forward): 256 multiply-adds a pixel cost less than storing and
       reading back a full-resolution buffer */
    ptrdiff_t row = begin / width, column = begin % width; /* of pixel i, kept up to date below */
    vf c1[NV], c2[NV];
    for (int q = 0; q < NV; q++) {
        c1[q] = load(g1 + 16 * q);
        c2[q] = load(g2 + 16 * q) * 2.0f;
    }
    for (ptrdiff_t block = begin; block < end; block += 1024) {
        ptrdiff_t stop = block + 1024 < end ? block + 1024 : end;
        vf tw[C][NV], tb[NV], tb_in[NV]; /* tw[j][q][k] accumulates dW[16 q + k][j] over at most 1024 rows */
        memset(tw, 0, sizeof tw);
        memset(tb, 0, sizeof tb);
        memset(tb_in, 0, sizeof tb_in);
        for (ptrdiff_t i = block; i < stop; i++) {
            const float *restrict xi = x + i * C;
            float dy[C];
            vf dx[NV], av[NV];
            if (a) {
                for (int q = 0; q < NV; q++) av[q] = load(a + i * C + 16 * q);
            } else {
                for (int q = 0; q < NV; q++) av[q] = load(b + 16 * q);
                for (int j = 0; j < C; j++)
                    for (int q = 0; q < NV; q++) av[q] += load(wt + j * C + 16 * q) * xi[j];
                for (int q = 0; q < NV; q++) av[q] = scale_negative(av[q], av[q], slope_pw);
            }
            const float *restrict dai = pooled ? da + ((row >> 1) * (width >> 1) + (column >> 1)) * C : da + i * C;
            const float share = pooled ? 0.25f : 1.0f;
            if (++column == width) {
                column = 0;
                row++;
            }
            for (int q = 0; q < NV; q++) {
                vf v = scale_negative(av[q], load(dai + 16 * q) * share + c1[q] + c2[q] * av[q], slope_pw);
                store(dy + 16 * q, v);
                tb[q] += v;
                dx[q] = (vf){0};
            }
            for (int o = 0; o < C; o++)
                for (int q = 0; q < NV; q++) dx[q] += load(w + o * C + 16 * q) * dy[o];
            for (int j = 0; j < C; j++)
                for (int q = 0; q < NV; q++) tw[j][q] += load(dy + 16 * q) * xi[j];
            for (int q = 0; q < NV; q++) {
                vf v = scale_negative(load(xi + 16 * q), dx[q], slope_in);
                store(dh + i * C + 16 * q, v);
                tb_in[q] += v;
            }
        }
        for (int j = 0; j < C; j++)
            for (int q = 0; q < NV; q++)
                for (int k = 0; k < 16; k++) dw[(16 * q + k) * C + j] += tw[j][q][k];
        for (int q = 0; q < NV; q++)
            for (int k = 0; k < 16; k++) {
                db[16 * q + k] += tb[q][k];
                db_in[16 * q + k] += tb_in[q][k];
            }
    }
}

#define _XOPEN_SOURCE 700
#include "ll_kernels.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__clang__)
#define LL_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define LL_CLONES
#endif

// ---------------------------------------------------------------- conversion

static inline float f16_bits_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {  // subnormal: renormalise
            int e = -1;
            do { man <<= 1; e++; } while ((man & 0x400u) == 0);
            man &= 0x3FFu;
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (man << 13);
        }
    } else if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

LL_CLONES void ll_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
#if defined(__x86_64__) && defined(__clang__)
    // _Float16 converts with vcvtph2ps in the x86-64-v3 clone.
    const _Float16 *s = (const _Float16 *)src;
    for (size_t i = 0; i < n; i++) dst[i] = (float)s[i];
#else
    for (size_t i = 0; i < n; i++) dst[i] = f16_bits_to_f32(src[i]);
#endif
}

LL_CLONES void ll_bf16_to_f32(const uint16_t *src, float *dst, size_t n) {
    uint32_t *d = (uint32_t *)dst;
    for (size_t i = 0; i < n; i++) d[i] = (uint32_t)src[i] << 16;
}

LL_CLONES void ll_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
#if defined(__x86_64__) && defined(__clang__)
    _Float16 *d = (_Float16 *)dst;
    for (size_t i = 0; i < n; i++) d[i] = (_Float16)src[i];
#else
    for (size_t i = 0; i < n; i++) {
        uint32_t x; memcpy(&x, &src[i], 4);
        uint32_t sign = (x >> 16) & 0x8000u;
        int32_t exp = (int32_t)((x >> 23) & 0xFF) - 127 + 15;
        uint32_t man = x & 0x7FFFFFu;
        uint16_t h;
        if (((x >> 23) & 0xFF) == 0xFF) {
            h = (uint16_t)(sign | 0x7C00u | (man ? 0x200u : 0));
        } else if (exp >= 31) {
            h = (uint16_t)(sign | 0x7C00u);
        } else if (exp <= 0) {
            if (exp < -10) { h = (uint16_t)sign; }
            else {
                man |= 0x800000u;
                uint32_t shift = (uint32_t)(14 - exp);
                uint32_t half = man >> shift;
                uint32_t rem = man & ((1u << shift) - 1);
                uint32_t mid = 1u << (shift - 1);
                if (rem > mid || (rem == mid && (half & 1))) half++;
                h = (uint16_t)(sign | half);
            }
        } else {
            uint32_t half = ((uint32_t)exp << 10) | (man >> 13);
            uint32_t rem = man & 0x1FFFu;
            if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) half++;
            h = (uint16_t)(sign | half);
        }
        dst[i] = h;
    }
#endif
}

LL_CLONES void ll_f32_to_bf16(const float *src, uint16_t *dst, size_t n) {
    const uint32_t *s = (const uint32_t *)src;
    for (size_t i = 0; i < n; i++) {
        uint32_t x = s[i];
        if ((x & 0x7F800000u) == 0x7F800000u && (x & 0x7FFFFFu)) { dst[i] = (uint16_t)((x >> 16) | 0x40u); continue; }
        uint32_t lsb = (x >> 16) & 1u;
        dst[i] = (uint16_t)((x + 0x7FFFu + lsb) >> 16);
    }
}

// ---------------------------------------------------------------- exp / erf

// exp(x) = 2^n * exp(r), r = x - n ln2 in [-ln2/2, ln2/2]; degree-6 minimax-like polynomial.
static inline float exp_inline(float x) {
    if (x > 88.3762626647949f) x = 88.3762626647949f;
    if (x < -87.3365447505531f) x = -87.3365447505531f;
    float n = __builtin_roundevenf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float r2 = r * r;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * r2 + r + 1.0f;
    int32_t e = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &e, 4);
    return p * scale;
}

// erf with |error| < 1.2e-7: Abramowitz & Stegun 7.1.26 is 1.5e-7; we use the
// Numerical Recipes erfc Chebyshev form (fractional error < 1.2e-7).
static inline float erf_inline(float x) {
    float z = fabsf(x);
    float t = 1.0f / (1.0f + 0.5f * z);
    float poly = -z * z - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
                 t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f +
                 t * (-0.82215223f + t * 0.17087277f))))))));
    float erfc = t * exp_inline(poly);
    float r = 1.0f - erfc;
    return x >= 0 ? r : -r;
}

float ll_expf(float x) { return exp_inline(x); }
float ll_erff(float x) { return erf_inline(x); }

// ---------------------------------------------------------------- row kernels

// Reductions may be reassociated (vectorised); results differ from a serial sum by rounding only.
static inline __attribute__((always_inline)) float dot_f32(const float *a, const float *b, size_t n) {
#pragma clang fp reassociate(on)
    float s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
static inline __attribute__((always_inline)) float sum_f32(const float *a, size_t n) {
#pragma clang fp reassociate(on)
    float s = 0;
    for (size_t i = 0; i < n; i++) s += a[i];
    return s;
}
static inline __attribute__((always_inline)) float centered_sumsq(const float *a, float mean, size_t n) {
#pragma clang fp reassociate(on)
    float s = 0;
    for (size_t i = 0; i < n; i++) { float c = a[i] - mean; s += c * c; }
    return s;
}
static inline __attribute__((always_inline)) float exp_shift_sum(float *x, size_t n, float scale, float mx) {
#pragma clang fp reassociate(on)
    float s = 0;
    for (size_t i = 0; i < n; i++) { float e = exp_inline(x[i] * scale - mx); x[i] = e; s += e; }
    return s;
}
#if defined(__x86_64__) && defined(__clang__)
static inline __attribute__((always_inline)) float dot_f16_inline(const _Float16 *a, const float *b, size_t n) {
#pragma clang fp reassociate(on)
    float s = 0;
    for (size_t i = 0; i < n; i++) s += (float)a[i] * b[i];
    return s;
}
#endif

LL_CLONES void ll_rmsnorm(const float *x, const float *w, float *out, size_t rows, size_t d, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *o = out + r * d;
        float ss = dot_f32(xr, xr, d);
        float inv = 1.0f / sqrtf(ss / (float)d + eps);
        for (size_t i = 0; i < d; i++) o[i] = w[i] * (xr[i] * inv);
    }
}

LL_CLONES void ll_layernorm(const float *x, const float *w, const float *b, float *out, size_t rows, size_t d, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *o = out + r * d;
        float mean = sum_f32(xr, d) / (float)d;
        float v = centered_sumsq(xr, mean, d);
        float inv = 1.0f / sqrtf(v / (float)d + eps);
        for (size_t i = 0; i < d; i++) o[i] = (xr[i] - mean) * inv * w[i] + b[i];
    }
}

LL_CLONES void ll_softmax_rows(float *x, size_t rows, size_t n, size_t ld, float scale, const int32_t *valid) {
    for (size_t r = 0; r < rows; r++) {
        float *xr = x + r * ld;
        size_t m = valid ? (size_t)valid[r] : n;
        if (m > n) m = n;
        if (m == 0) { for (size_t i = 0; i < n; i++) xr[i] = 0; continue; }
        float mx = -INFINITY;
        for (size_t i = 0; i < m; i++) { float v = xr[i] * scale; mx = v > mx ? v : mx; }
        float s = exp_shift_sum(xr, m, scale, mx);
        float inv = 1.0f / s;
        for (size_t i = 0; i < m; i++) xr[i] *= inv;
        for (size_t i = m; i < n; i++) xr[i] = 0;
    }
}

LL_CLONES void ll_silu_mul(const float *gate, const float *up, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + exp_inline(-g)) * up[i];
    }
}

LL_CLONES void ll_geglu(const float *u, float *out, size_t rows, size_t half) {
    for (size_t r = 0; r < rows; r++) {
        const float *a = u + r * 2 * half;
        const float *g = a + half;
        float *o = out + r * half;
        for (size_t j = 0; j < half; j++) {
            float x = g[j];
            o[j] = a[j] * (0.5f * x * (1.0f + erf_inline(x * 0.70710678118654752f)));
        }
    }
}

LL_CLONES void ll_add(float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] += b[i];
}

LL_CLONES void ll_add_row_bias(float *a, const float *b, size_t rows, size_t d) {
    for (size_t r = 0; r < rows; r++) {
        float *ar = a + r * d;
        for (size_t i = 0; i < d; i++) ar[i] += b[i];
    }
}

LL_CLONES double ll_sumsq(const float *x, size_t n) {
#pragma clang fp reassociate(on)
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}

/* Sum of a float array with independent accumulators, so the loop runs at load speed (a
   read-bandwidth probe, not a precise sum). */
LL_CLONES float ll_sum_fast(const float *x, size_t n) {
#pragma clang fp reassociate(on)
    float s = 0;
    size_t i = 0;
    for (; i + 1024 <= n; i += 1024) {   /* 4 KB blocks, the block 8 KB ahead prefetched */
        if (i + 3072 <= n)
            for (size_t c = 0; c < 1024; c += 16) __builtin_prefetch(x + i + 2048 + c, 0, 3);
        for (size_t j = 0; j < 1024; j++) s += x[i + j];
    }
    for (; i < n; i++) s += x[i];
    return s;
}

LL_CLONES void ll_axpy(float alpha, const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

LL_CLONES float ll_dot_f16(const uint16_t *a, const float *b, size_t n) {
#pragma clang fp reassociate(on)
    float s = 0;
#if defined(__x86_64__) && defined(__clang__)
    const _Float16 *h = (const _Float16 *)a;
    for (size_t i = 0; i < n; i++) s += (float)h[i] * b[i];
#else
    for (size_t i = 0; i < n; i++) s += f16_bits_to_f32(a[i]) * b[i];
#endif
    return s;
}

static void gemv_f16_portable(const uint16_t *a, const float *x, float *y, size_t rows, size_t d) {
    for (size_t r = 0; r < rows; r++) y[r] = ll_dot_f16(a + r * d, x, d);
}

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>
#define LL_AVX2 __attribute__((target("avx2,fma,f16c")))
LL_AVX2 static inline float hsum256(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}
/* Four rows at a time share each load of x; the rows eight ahead are prefetched (a scan of a
   memory-mapped store is memory-bound: on the 2-core Xeon this took one thread from 6.2 to
   9.9 GB/s, measured with a 1M x 256 matrix). */
LL_AVX2 static void gemv_f16_avx2(const uint16_t *a, const float *x, float *y, size_t rows, size_t d) {
    const size_t dv = d & ~(size_t)7;
    size_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const uint16_t *p = a + r * d;
        if (r + 12 <= rows)
            for (size_t c = 0; c < 4 * d; c += 32) _mm_prefetch((const char *)(p + 8 * d + c), _MM_HINT_T0);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t i = 0; i < dv; i += 8) {
            __m256 xv = _mm256_loadu_ps(x + i);
            a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + i))), xv, a0);
            a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + d + i))), xv, a1);
            a2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * d + i))), xv, a2);
            a3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 3 * d + i))), xv, a3);
        }
        float s0 = hsum256(a0), s1 = hsum256(a1), s2 = hsum256(a2), s3 = hsum256(a3);
        for (size_t i = dv; i < d; i++) {
            s0 += _cvtsh_ss(p[i]) * x[i];
            s1 += _cvtsh_ss(p[d + i]) * x[i];
            s2 += _cvtsh_ss(p[2 * d + i]) * x[i];
            s3 += _cvtsh_ss(p[3 * d + i]) * x[i];
        }
        y[r] = s0; y[r + 1] = s1; y[r + 2] = s2; y[r + 3] = s3;
    }
    for (; r < rows; r++) y[r] = ll_dot_f16(a + r * d, x, d);
}
#endif

void ll_gemv_f16(const uint16_t *a, const float *x, float *y, size_t rows, size_t d) {
#if defined(__x86_64__) && defined(__clang__)
    static int avx2 = -1;   /* decided once; a benign race writes the same value */
    if (avx2 < 0) avx2 = ll_cpu_level() >= 2 && __builtin_cpu_supports("f16c");
    if (avx2) { gemv_f16_avx2(a, x, y, rows, d); return; }
#endif
    gemv_f16_portable(a, x, y, rows, d);
}

// ---------------------------------------------------------------- backward kernels

LL_CLONES void ll_rmsnorm_backward(const float *x, const float *w, const float *dy, float *dx, float *dw, size_t rows, size_t d, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * d, *g = dy + r * d;
        float *o = dx + r * d;
        float ss = dot_f32(xr, xr, d);
        float rstd = 1.0f / sqrtf(ss / (float)d + eps);
        float s = 0;
        {
#pragma clang fp reassociate(on)
            for (size_t i = 0; i < d; i++) s += g[i] * w[i] * xr[i];
        }
        float c = s * rstd * rstd * rstd / (float)d;
        for (size_t i = 0; i < d; i++) {
            float gi = g[i];            /* read before o may overwrite it (dx may alias dy) */
            dw[i] += gi * xr[i] * rstd;
            o[i] = gi * w[i] * rstd - xr[i] * c;
        }
    }
}

LL_CLONES void ll_layernorm_backward(const float *x, const float *w, const float *dy, float *dx, float *dw, float *db, size_t rows, size_t d, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * d, *g = dy + r * d;
        float *o = dx + r * d;
        float mean = sum_f32(xr, d) / (float)d;
        float var = centered_sumsq(xr, mean, d) / (float)d;
        float rstd = 1.0f / sqrtf(var + eps);
        float sg = 0, sgx = 0;
        {
#pragma clang fp reassociate(on)
            for (size_t i = 0; i < d; i++) {
                float gw = g[i] * w[i];
                float xh = (xr[i] - mean) * rstd;
                sg += gw;
                sgx += gw * xh;
            }
        }
        sg /= (float)d;
        sgx /= (float)d;
        for (size_t i = 0; i < d; i++) {
            float xh = (xr[i] - mean) * rstd;
            float gi = g[i];            /* read before o may overwrite it (dx may alias dy) */
            dw[i] += gi * xh;
            db[i] += gi;
            o[i] = rstd * (gi * w[i] - sg - xh * sgx);
        }
    }
}

LL_CLONES void ll_softmax_backward_rows(const float *p, float *dp, size_t rows, size_t n, size_t ld, float scale) {
    for (size_t r = 0; r < rows; r++) {
        const float *pr = p + r * ld;
        float *g = dp + r * ld;
        float s = dot_f32(pr, g, n);
        for (size_t i = 0; i < n; i++) g[i] = pr[i] * (g[i] - s) * scale;
    }
}

LL_CLONES void ll_silu_mul_backward(const float *g, const float *u, const float *dh, float *dg, float *du, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float a = g[i];
        float sg = 1.0f / (1.0f + exp_inline(-a));
        float silu = a * sg;
        du[i] = dh[i] * silu;
        dg[i] = dh[i] * u[i] * sg * (1.0f + a * (1.0f - sg));
    }
}

LL_CLONES void ll_geglu_backward(const float *u, const float *dout, float *du, size_t rows, size_t half) {
    for (size_t r = 0; r < rows; r++) {
        const float *a = u + r * 2 * half, *b = a + half, *go = dout + r * half;
        float *da = du + r * 2 * half, *db = da + half;
        for (size_t j = 0; j < half; j++) {
            float x = b[j];
            float cdf = 0.5f * (1.0f + erf_inline(x * 0.70710678118654752f));
            float pdf = 0.3989422804014327f * exp_inline(-0.5f * x * x);
            da[j] = go[j] * x * cdf;
            db[j] = go[j] * a[j] * (cdf + x * pdf);
        }
    }
}

LL_CLONES void ll_column_sums(const float *dy, float *db, size_t rows, size_t d) {
    for (size_t r = 0; r < rows; r++) {
        const float *g = dy + r * d;
        for (size_t i = 0; i < d; i++) db[i] += g[i];
    }
}

#include <wchar.h>
int ll_wcwidth(uint32_t codepoint) { return wcwidth((wchar_t)codepoint); }

int ll_cpu_level(void) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) return 3;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
    if (__builtin_cpu_supports("avx")) return 1;
#endif
    return 0;
}

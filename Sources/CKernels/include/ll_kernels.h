#ifndef LL_KERNELS_H
#define LL_KERNELS_H
// Element-wise and row-wise float kernels for LatentLens. Each has a portable version
// and, on x86-64, an AVX2/FMA/F16C clone picked at load time (target_clones), so the
// binary runs on any x86-64 CPU and is fast on the ones it will meet.
// All sizes are element counts; rows are contiguous with the given row stride == width.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- dtype conversion
void ll_f16_to_f32(const uint16_t *src, float *dst, size_t n);
void ll_bf16_to_f32(const uint16_t *src, float *dst, size_t n);
void ll_f32_to_f16(const float *src, uint16_t *dst, size_t n);   // round to nearest even
void ll_f32_to_bf16(const float *src, uint16_t *dst, size_t n);  // round to nearest even

// ---- transcendental helpers (vectorisable, ~1-2 ulp exp; erf abs error < 2e-7)
float ll_expf(float x);
float ll_erff(float x);

// ---- row kernels
/// out[r,:] = x[r,:] / sqrt(mean(x[r,:]^2) + eps) * w. out may alias x.
void ll_rmsnorm(const float *x, const float *w, float *out, size_t rows, size_t d, float eps);
/// out[r,:] = (x - mean) / sqrt(var + eps) * w + b (biased variance). out may alias x.
void ll_layernorm(const float *x, const float *w, const float *b, float *out, size_t rows, size_t d, float eps);
/// In place: x[r, :n] = softmax(scale * x[r, :n]) for rows with stride ld. Entries at
/// column >= valid[r] (when valid != NULL) are set to zero and excluded.
void ll_softmax_rows(float *x, size_t rows, size_t n, size_t ld, float scale, const int32_t *valid);
/// out = silu(gate) * up, element-wise.
void ll_silu_mul(const float *gate, const float *up, float *out, size_t n);
/// GEGLU on rows of width 2*half: out[r, j] = u[r, j] * gelu_erf(u[r, half + j]).
void ll_geglu(const float *u, float *out, size_t rows, size_t half);
/// a += b
void ll_add(float *a, const float *b, size_t n);
/// a += b (b broadcast over rows): a[r, :] += b[:]
void ll_add_row_bias(float *a, const float *b, size_t rows, size_t d);
/// sum of squares
double ll_sumsq(const float *x, size_t n);
/// y += alpha * x
void ll_axpy(float alpha, const float *x, float *y, size_t n);
/// dot product with an f16 vector: sum_i f16(a[i]) * b[i]
float ll_dot_f16(const uint16_t *a, const float *b, size_t n);
// ---- backward kernels (training). dx outputs are overwritten unless noted; dw/db accumulate.
/// RMSNorm backward. x: inputs; dy: upstream grads; dx = d/dx; dw += sum_r dy * x * rstd.
void ll_rmsnorm_backward(const float *x, const float *w, const float *dy, float *dx, float *dw, size_t rows, size_t d, float eps);
/// LayerNorm backward (biased variance). dw, db accumulate.
void ll_layernorm_backward(const float *x, const float *w, const float *dy, float *dx, float *dw, float *db, size_t rows, size_t d, float eps);
/// Softmax backward in place, per row: given p = softmax(s) and dp, writes ds = p * (dp - sum(dp*p)) * scale into dp.
void ll_softmax_backward_rows(const float *p, float *dp, size_t rows, size_t n, size_t ld, float scale);
/// SwiGLU backward: h = silu(g) * u. Writes dg and du from dh (dg/du may not alias inputs).
void ll_silu_mul_backward(const float *g, const float *u, const float *dh, float *dg, float *du, size_t n);
/// GEGLU backward over rows of width 2*half: du[:, :half] = dout * gelu(b); du[:, half:] = dout * a * gelu'(b).
void ll_geglu_backward(const float *u, const float *dout, float *du, size_t rows, size_t half);
/// db += column sums of dy [rows, d].
void ll_column_sums(const float *dy, float *db, size_t rows, size_t d);

// ---- small-M products against pre-packed weights (small_gemm.c)
/// Floats needed to pack a weight W [n, k] (panels of 32 outputs, zero-padded).
size_t ll_packed_size(size_t n, size_t k);
/// Packs W [n, k] (row-major, y = x · Wᵀ) into `packed` (ll_packed_size floats, 64-byte aligned).
void ll_pack_weight(const float *w, size_t n, size_t k, float *packed);
/// y[m, n] (row stride ldy) = x[m, k] (row stride ldx) · Wᵀ, or += when accumulate != 0.
/// Splits the work over a small worker pool (LATENTLENS_THREADS caps it) when big enough.
void ll_linear_packed(const float *x, size_t ldx, size_t m, size_t k, const float *packed, size_t n,
                      float *y, size_t ldy, int accumulate);
/// The same on the calling thread only.
void ll_linear_packed_serial(const float *x, size_t ldx, size_t m, size_t k, const float *packed, size_t n,
                             float *y, size_t ldy, int accumulate);
/// The same with the kernel of one CPU level (3 AVX-512, 2 AVX2, 0 portable), on the calling
/// thread; returns 0 (and does nothing) when this CPU or build lacks that level. For tests.
int ll_linear_packed_at_level(int level, const float *x, size_t ldx, size_t m, size_t k, const float *packed, size_t n,
                              float *y, size_t ldy, int accumulate);
/// 1 when a vectorised (AVX-512 or AVX2) kernel is in use (else a portable loop: callers should prefer BLAS).
int ll_small_gemm_vectorized(void);
/// The kernel level in use: 3 AVX-512, 2 AVX2, 0 portable (LATENTLENS_SMALL_GEMM_LEVEL caps it).
int ll_small_gemm_level(void);
/// Threads the pool uses, the caller included.
int ll_small_gemm_threads(void);
/// Caps the threads one product may use (BLAS.setThreads sets it with OpenBLAS's).
void ll_small_gemm_limit_threads(int n);

/// GFLOP/s of one core running independent FMA chains on registers alone (the arithmetic ceiling)
/// with the widest vectors up to `level` (3 AVX-512, 2 AVX2); best 20 ms slice over `seconds`; 0 if none.
double ll_fma_peak_gflops(int level, double seconds);

/// y[r] = dot(A[r, :], x) for an f16 matrix (rows x d).
float ll_sum_fast(const float *x, size_t n);
void ll_gemv_f16(const uint16_t *a, const float *x, float *y, size_t rows, size_t d);

#ifdef __cplusplus
}
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif
/// wcwidth(3) of one code point under the current LC_CTYPE (-1 if unknown/non-printable).
int ll_wcwidth(uint32_t codepoint);
/// CPU vector level: 3 = AVX-512 (F, BW, DQ, VL), 2 = AVX2 + FMA, 1 = AVX, 0 = baseline.
int ll_cpu_level(void);
/// Grows an anonymous private mapping of `old_bytes` (or makes one when `old` is NULL) to
/// `new_bytes`, keeping its contents and touched pages (mremap); new pages read as zero. Asks for
/// transparent huge pages. NULL when the system refuses (the old mapping is then unchanged).
void *ll_map_grow(void *old, size_t old_bytes, size_t new_bytes);
/// Unmaps what `ll_map_grow` returned.
void ll_map_free(void *p, size_t bytes);
#ifdef __cplusplus
}
#endif

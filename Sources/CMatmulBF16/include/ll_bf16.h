// Matrix products with bfloat16 inputs and float32 accumulation, on the CPU's bfloat16
// hardware (AMX tiles, or AVX512_BF16's dot-product instructions) through oneDNN (Debian:
// libdnnl-dev). Used by the trainer when asked for (`--matmul bf16`);
// everything else multiplies in float32 with OpenBLAS.
#ifndef LL_BF16_H
#define LL_BF16_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when oneDNN runs bfloat16 products in hardware on this CPU (its instruction set is
/// avx512_core_amx or avx512_core_bf16), else 0.
int ll_bf16_available(void);

/// The instruction set oneDNN picked (e.g. "avx512_core_amx", "avx512_core_bf16"), for reports.
const char *ll_bf16_isa_name(void);

/// Row-major `C[m×n] = op(A) · op(B) + beta · C` with A and B rounded to bfloat16 (round to
/// nearest even) and products summed in float32. `op(X)` is X or Xᵀ per `trans_*`; leading
/// dimensions are row strides of the stored matrices, as in cblas_sgemm. Only beta 0 or 1.
/// Returns 1 when it ran, 0 when it did not and left C untouched (no bfloat16 hardware, beta not 0 or 1, or
/// oneDNN refused the shape): the caller then multiplies in float32 itself. Calls from
/// several threads are serialised.
int ll_bf16_gemm(int trans_a, int trans_b, size_t m, size_t n, size_t k,
                 const float *a, size_t lda, const float *b, size_t ldb,
                 float beta, float *c, size_t ldc);

/// Whether `ll_bf16_gemm_if_enabled` may use bfloat16 on the calling thread (0 off, 1 on).
/// Per thread, so worker threads that multiply small matrices in parallel stay float32 and a
/// run's arithmetic does not depend on which thread got there first.
void ll_bf16_set_thread_enabled(int on);
int ll_bf16_thread_enabled(void);

/// Products at least this large (m·n·k multiply-adds) go to bfloat16 when enabled; smaller
/// ones stay float32, where converting the operands would cost more than it saves.
#define LL_BF16_MIN_WORK ((size_t)1 << 21)

/// `ll_bf16_gemm` when this thread enabled it, alpha is 1 and the product is large enough;
/// else 0 without doing anything.
int ll_bf16_gemm_if_enabled(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                            const float *a, size_t lda, const float *b, size_t ldb,
                            float beta, float *c, size_t ldc);

/// Threads oneDNN's products and reorders use (its OpenMP pool; default: all cores).
void ll_bf16_set_threads(int n);


#ifdef __cplusplus
}
#endif
#endif

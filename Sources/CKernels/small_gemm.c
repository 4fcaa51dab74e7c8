// Small-M matrix products against pre-packed weights, for short inputs (one query: ~30 rows).
//
// OpenBLAS packs the weight operand on every call and hands work to its threads through a
// general pool; for 30-row products those two costs are a third of the time. Here the
// weight W [n, k] (PyTorch layout, y = x · Wᵀ) is packed once, at load, into panels of 32
// output columns laid out k-major (panel p: k rows of 32 floats, zero-padded), and an
// AVX-512 micro-kernel computes 8 rows × 32 columns per pass with 16 accumulators.
// Panels are split over a small pool of worker threads that spin briefly between calls and
// then sleep on a futex, so the hand-off between consecutive products costs ~1 µs.
#define _GNU_SOURCE
#include "ll_kernels.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define PANEL 32

size_t ll_packed_size(size_t n, size_t k) { return ((n + PANEL - 1) / PANEL) * PANEL * k; }

void ll_pack_weight(const float *w, size_t n, size_t k, float *packed) {
    size_t panels = (n + PANEL - 1) / PANEL;
    for (size_t p = 0; p < panels; p++) {
        float *dst = packed + p * PANEL * k;
        for (size_t j = 0; j < PANEL; j++) {
            size_t row = p * PANEL + j;
            if (row < n) {
                const float *src = w + row * k;
                for (size_t kk = 0; kk < k; kk++) dst[kk * PANEL + j] = src[kk];
            } else {
                for (size_t kk = 0; kk < k; kk++) dst[kk * PANEL + j] = 0;
            }
        }
    }
}

// ---------------------------------------------------------------- kernels

/// Portable: rows [0, m) × panels [p0, p1).
static void panels_portable(const float *x, size_t ldx, size_t m, size_t k, const float *packed, size_t n,
                            float *y, size_t ldy, int accumulate, size_t p0, size_t p1) {
    for (size_t p = p0; p < p1; p++) {
        const float *panel = packed + p * PANEL * k;
        size_t cols = n - p * PANEL < PANEL ? n - p * PANEL : PANEL;
        for (size_t r = 0; r < m; r++) {
            float acc[PANEL] = {0};
            const float *xr = x + r * ldx;
            for (size_t kk = 0; kk < k; kk++) {
                float a = xr[kk];
                for (size_t j = 0; j < PANEL; j++) acc[j] += a * panel[kk * PANEL + j];
            }
            float *yr = y + r * ldy + p * PANEL;
            for (size_t j = 0; j < cols; j++) yr[j] = accumulate ? yr[j] + acc[j] : acc[j];
        }
    }
}

#if defined(__x86_64__) && defined(__clang__)
#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))

static inline __attribute__((always_inline)) AVX512
void micro_512(const float *x, size_t ldx, const int R, size_t k, const float *panel,
               float *y, size_t ldy, __mmask16 m0, __mmask16 m1, int accumulate) {
    __m512 c0[8], c1[8];
    for (int r = 0; r < R; r++) { c0[r] = _mm512_setzero_ps(); c1[r] = _mm512_setzero_ps(); }
    for (size_t kk = 0; kk < k; kk++) {
        __m512 b0 = _mm512_load_ps(panel + kk * PANEL), b1 = _mm512_load_ps(panel + kk * PANEL + 16);
        for (int r = 0; r < R; r++) {
            __m512 a = _mm512_set1_ps(x[r * ldx + kk]);
            c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        float *yr = y + r * ldy;
        if (accumulate) {
            c0[r] = _mm512_add_ps(c0[r], _mm512_maskz_loadu_ps(m0, yr));
            c1[r] = _mm512_add_ps(c1[r], _mm512_maskz_loadu_ps(m1, yr + 16));
        }
        _mm512_mask_storeu_ps(yr, m0, c0[r]);
        _mm512_mask_storeu_ps(yr + 16, m1, c1[r]);
    }
}

static AVX512 void panels_512(const float *x, size_t ldx, size_t m, size_t k, const float *packed, size_t n,
                              float *y, size_t ldy, int accumulate, size_t p0, size_t p1) {
    for (size_t p = p0; p < p1; p++) {
        const float *panel = packed + p * PANEL * k;
        size_t cols = n - p * PANEL < PANEL ? n - p * PANEL : PANEL;
        __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
        __mmask16 m1 = cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
        float *yp = y + p * PANEL;
        size_t r = 0;
        for (; r + 8 <= m; r += 8) micro_512(x + r * ldx, ldx, 8, k, panel, yp + r * ldy, ldy, m0, m1, accumulate);
        switch (m - r) {
        case 7: micro_512(x + r * ldx, ldx, 7, k, panel, yp + r * ldy, ldy, m0, m1, accumulate); break;
        case 6: micro_512(x + r * ldx, ldx, 6, k, panel, yp + r * ldy, ldy, m0, m1, accumulate); break;
        case 5: micro_512(x + r * ldx, ldx, 5, k, panel, yp + r * ldy, ldy, m0, m1, accumulate); break;
        case 4: micro_512(x + r * ldx, ldx, 4, k, panel, yp + r * ldy, ldy, m0, m1, accumulate); break;
        case 3: micro_512(x + r * ldx, ldx, 3, k, panel, yp + r * ldy, ldy, m0, m1, accumulate); break;
        case 2: micro_512(x + r * ldx, ldx, 2, k, panel, yp + r * ldy, ldy, m0, m1, accumulate); break;
        case 1: micro_512(x + r * ldx, ldx, 1, k, panel, yp + r * ldy, ldy, m0, m1, accumulate); break;
        default: break;
        }
    }
}

#define AVX2 __attribute__((target("avx2,fma")))

/* AVX2: 3 rows × 32 columns per pass (12 ymm accumulators + 4 for the panel row = all 16). */
static inline __attribute__((always_inline)) AVX2
void micro_256(const float *x, size_t ldx, const int R, size_t k, const float *panel,
               float *y, size_t ldy, size_t cols, int accumulate) {
    __m256 c[3][4];
    for (int r = 0; r < R; r++) for (int q = 0; q < 4; q++) c[r][q] = _mm256_setzero_ps();
    for (size_t kk = 0; kk < k; kk++) {
        const float *b = panel + kk * PANEL;
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), b2 = _mm256_load_ps(b + 16), b3 = _mm256_load_ps(b + 24);
        for (int r = 0; r < R; r++) {
            __m256 a = _mm256_broadcast_ss(x + r * ldx + kk);
            c[r][0] = _mm256_fmadd_ps(a, b0, c[r][0]);
            c[r][1] = _mm256_fmadd_ps(a, b1, c[r][1]);
            c[r][2] = _mm256_fmadd_ps(a, b2, c[r][2]);
            c[r][3] = _mm256_fmadd_ps(a, b3, c[r][3]);
        }
    }
    for (int r = 0; r < R; r++) {
        float *yr = y + r * ldy;
        if (cols == PANEL) {
            for (int q = 0; q < 4; q++) {
                __m256 v = c[r][q];
                if (accumulate) v = _mm256_add_ps(v, _mm256_loadu_ps(yr + 8 * q));
                _mm256_storeu_ps(yr + 8 * q, v);
            }
        } else {
            float tmp[PANEL] __attribute__((aligned(32)));
            for (int q = 0; q < 4; q++) _mm256_store_ps(tmp + 8 * q, c[r][q]);
            for (size_t j = 0; j < cols; j++) yr[j] = accumulate ? yr[j] + tmp[j] : tmp[j];
        }
    }
}

static AVX2 void panels_256(const float *x, size_t ldx, size_t m, size_t k, const float *packed, size_t n,
                            float *y, size_t ldy, int accumulate, size_t p0, size_t p1) {
    for (size_t p = p0; p < p1; p++) {
        const float *panel = packed + p * PANEL * k;
        size_t cols = n - p * PANEL < PANEL ? n - p * PANEL : PANEL;
        float *yp = y + p * PANEL;
        size_t r = 0;
        for (; r + 3 <= m; r += 3) micro_256(x + r * ldx, ldx, 3, k, panel, yp + r * ldy, ldy, cols, accumulate);
        if (m - r == 2) micro_256(x + r * ldx, ldx, 2, k, panel, yp + r * ldy, ldy, cols, accumulate);
        else if (m - r == 1) micro_256(x + r * ldx, ldx, 1, k, panel, yp + r * ldy, ldy, cols, accumulate);
    }
}
#endif

typedef void (*panels_fn)(const float *, size_t, size_t, size_t, const float *, size_t, float *, size_t, int, size_t, size_t);

/* The kernel for a CPU level (ll_cpu_level: 3 AVX-512, 2 AVX2+FMA), or NULL if this build has
   none for it; level 0 is the portable loop. */
static panels_fn kernel_for(int level) {
#if defined(__x86_64__) && defined(__clang__)
    if (level == 3) return panels_512;
    if (level == 2) return panels_256;
#endif
    return level == 0 ? panels_portable : NULL;
}

/* Chosen once per process: CPU level, capped by LATENTLENS_SMALL_GEMM_LEVEL (comparisons). */
static pthread_once_t level_once = PTHREAD_ONCE_INIT;
static int chosen_level;
static panels_fn chosen_kernel;

static void choose_level(void) {
    int level = ll_cpu_level();
    const char *env = getenv("LATENTLENS_SMALL_GEMM_LEVEL");
    if (env && atoi(env) >= 0 && atoi(env) < level) level = atoi(env);
    while (level > 0 && !kernel_for(level)) level--;
    chosen_level = level;
    chosen_kernel = kernel_for(level);
}

int ll_small_gemm_level(void) {
    pthread_once(&level_once, choose_level);
    return chosen_level;
}

static panels_fn pick_kernel(void) {
    pthread_once(&level_once, choose_level);
    return chosen_kernel;
}

int ll_linear_packed_at_level(int level, const float *x, size_t ldx, size_t m, size_t k, const float *packed, size_t n,
                              float *y, size_t ldy, int accumulate) {
    panels_fn f = kernel_for(level);
    if (!f || level > ll_cpu_level()) return 0;
    if (m && n) f(x, ldx, m, k, packed, n, y, ldy, accumulate, 0, (n + PANEL - 1) / PANEL);
    return 1;
}

int ll_small_gemm_vectorized(void) { return pick_kernel() != panels_portable; }

// ---------------------------------------------------------------- FMA peak probe

/* GFLOP/s of independent FMA chains on registers only (no memory traffic): the arithmetic
   ceiling of one core at `level`, against which a measured sgemm peak can be read. 12 chains
   cover the FMA latency × throughput of current cores; the asm barrier keeps the loop honest. */
static double fma_now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

#if defined(__x86_64__) && defined(__clang__)
static AVX512 double fma_chunk_512(long iters, float *sink) {
    __m512 c[12], a = _mm512_set1_ps(1.0f + 1e-7f), b = _mm512_set1_ps(1.0f - 1e-7f);
    for (int i = 0; i < 12; i++) c[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
        for (int i = 0; i < 12; i++) c[i] = _mm512_fmadd_ps(a, b, c[i]);
        __asm__ volatile("" : "+v"(a));
    }
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm512_reduce_add_ps(c[i]);
    *sink = s;
    return 12.0 * 32.0 * (double)iters;
}
static AVX2 double fma_chunk_256(long iters, float *sink) {
    __m256 c[12], a = _mm256_set1_ps(1.0f + 1e-7f), b = _mm256_set1_ps(1.0f - 1e-7f);
    for (int i = 0; i < 12; i++) c[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
        for (int i = 0; i < 12; i++) c[i] = _mm256_fmadd_ps(a, b, c[i]);
        __asm__ volatile("" : "+x"(a));
    }
    float lanes[8], s = 0;
    for (int i = 0; i < 12; i++) { _mm256_storeu_ps(lanes, c[i]); for (int j = 0; j < 8; j++) s += lanes[j]; }
    *sink = s;
    return 12.0 * 16.0 * (double)iters;
}
#endif

double ll_fma_peak_gflops(int level, double seconds) {
    double (*chunk)(long, float *) = NULL;
#if defined(__x86_64__) && defined(__clang__)
    if (level >= 3 && ll_cpu_level() >= 3) chunk = fma_chunk_512;
    else if (level >= 2 && ll_cpu_level() >= 2) chunk = fma_chunk_256;
#endif
    if (!chunk) return 0;
    float sink = 0;
    double best = 0, start = fma_now();
    do {   /* best of 20 ms slices: a shared host only ever slows a slice down */
        double t0 = fma_now(), flop = chunk(2000000, &sink), t = fma_now() - t0;
        if (t > 0 && flop / t > best) best = flop / t;
    } while (fma_now() - start < seconds);
    if (sink == 1.2345f) best += 0;   /* keep the sums alive */
    return best / 1e9;
}

// ---------------------------------------------------------------- worker pool

#define MAX_THREADS 8

typedef struct {
    const float *x; size_t ldx, m, k; const float *packed; size_t n; float *y; size_t ldy; int accumulate;
    size_t panels; int parts;
} job_t;

static struct {
    pthread_once_t once;
    pthread_mutex_t busy;          /* one caller at a time; others run single-threaded */
    int threads;                   /* including the caller */
    job_t job;
    _Atomic uint32_t generation;   /* bumped per job; workers wait for a change */
    _Atomic int remaining;         /* workers still running the current job */
    _Atomic int sleepers;          /* workers asleep on the futex */
} pool = { .once = PTHREAD_ONCE_INIT, .busy = PTHREAD_MUTEX_INITIALIZER };

static void run_part(const job_t *j, int part) {
    size_t p0 = j->panels * (size_t)part / (size_t)j->parts, p1 = j->panels * (size_t)(part + 1) / (size_t)j->parts;
    if (p0 < p1) pick_kernel()(j->x, j->ldx, j->m, j->k, j->packed, j->n, j->y, j->ldy, j->accumulate, p0, p1);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__)
    _mm_pause();
#endif
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t value) {
#if defined(__linux__)
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
#else
    usleep(50);
#endif
}

static void futex_wake_all(_Atomic uint32_t *addr) {
#if defined(__linux__)
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, MAX_THREADS, NULL, NULL, 0);
#endif
}

/* Spin this many pause instructions (~40 ns each) for the next job before sleeping:
   consecutive products in one forward pass are a few µs apart. */
#define SPIN_ROUNDS 4000

static void *worker_main(void *arg) {
    int part = (int)(intptr_t)arg;
    /* 0: the generation before any job. Reading it here instead would lose a job posted
       before this thread got to run. */
    uint32_t seen = 0;
    for (;;) {
        uint32_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen) {
            if (++spins < SPIN_ROUNDS) { cpu_relax(); continue; }
            atomic_fetch_add(&pool.sleepers, 1);
            futex_wait(&pool.generation, seen);
            atomic_fetch_sub(&pool.sleepers, 1);
            spins = 0;
        }
        seen = g;
        if (part < pool.job.parts) run_part(&pool.job, part);
        atomic_fetch_sub_explicit(&pool.remaining, 1, memory_order_acq_rel);
    }
    return NULL;
}

static void pool_init(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("LATENTLENS_THREADS");
    if (env && atoi(env) > 0) cpus = atoi(env);
    pool.threads = cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : (int)cpus;
    for (int t = 1; t < pool.threads; t++) {
        pthread_t th;   /* default attributes: a small stack can be refused (other libraries' TLS) */
        if (pthread_create(&th, NULL, worker_main, (void *)(intptr_t)t) != 0) { pool.threads = t; break; }
        pthread_detach(th);
    }
}

static _Atomic int thread_limit = MAX_THREADS;

void ll_small_gemm_limit_threads(int n) { atomic_store(&thread_limit, n < 1 ? 1 : n); }

int ll_small_gemm_threads(void) {
    pthread_once(&pool.once, pool_init);
    return pool.threads;
}

void ll_linear_packed(const float *x, size_t ldx, size_t m, size_t k, const float *packed, size_t n,
                      float *y, size_t ldy, int accumulate) {
    if (m == 0 || n == 0) return;
    pthread_once(&pool.once, pool_init);
    size_t panels = (n + PANEL - 1) / PANEL;
    /* Below ~2 MFLOP per extra thread the hand-off is not worth it. */
    size_t work = m * n * k;
    int limit = atomic_load_explicit(&thread_limit, memory_order_relaxed);
    int parts = pool.threads < limit ? pool.threads : limit;
    while (parts > 1 && (work / (size_t)parts < (1u << 20) || (size_t)parts > panels)) parts--;
    if (parts == 1 || pthread_mutex_trylock(&pool.busy) != 0) {
        pick_kernel()(x, ldx, m, k, packed, n, y, ldy, accumulate, 0, panels);
        return;
    }
    pool.job = (job_t){ x, ldx, m, k, packed, n, y, ldy, accumulate, panels, parts };
    atomic_store_explicit(&pool.remaining, pool.threads - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_acq_rel);
    if (atomic_load(&pool.sleepers) > 0) futex_wake_all(&pool.generation);
    run_part(&pool.job, 0);
    while (atomic_load_explicit(&pool.remaining, memory_order_acquire) > 0) cpu_relax();
    pthread_mutex_unlock(&pool.busy);
}

void ll_linear_packed_serial(const float *x, size_t ldx, size_t m, size_t k, const float *packed, size_t n,
                             float *y, size_t ldy, int accumulate) {
    if (m == 0 || n == 0) return;
    pick_kernel()(x, ldx, m, k, packed, n, y, ldy, accumulate, 0, (n + PANEL - 1) / PANEL);
}

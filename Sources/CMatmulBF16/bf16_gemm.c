// bfloat16 matrix products through oneDNN's matmul primitive, on AMX tiles or AVX512_BF16
// dot-product instructions (see ll_bf16.h).
//
// Each call converts the two float32 operands to dense bfloat16 copies with oneDNN reorders
// (threaded, and they read any leading dimension or transposition), then runs a matmul
// primitive whose destination is the caller's float32 C (a sum post-op adds beta = 1).
// Primitives depend on the shape, transpositions, leading dimensions and beta, so they are
// created once per such key and cached; a training run sees a few hundred keys.
#include "ll_bf16.h"
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int used, ta, tb, beta1;
    size_t m, n, k, lda, ldb, ldc;
    dnnl_primitive_t reorder_a, reorder_b, matmul;
    dnnl_memory_desc_t a32, b32, a16, b16, c32;
} entry_t;

#define SLOTS 4096
static entry_t *table;
static size_t cached;
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static uint16_t *buf_a, *buf_b;
static size_t cap_a, cap_b;
static int state; // 0 unknown, 1 ready, -1 unavailable
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void setup(void) {
    // bfloat16 hardware only: below these oneDNN would emulate bfloat16 and gain nothing.
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if (isa != dnnl_cpu_isa_avx512_core_amx && isa != dnnl_cpu_isa_avx512_core_bf16) { state = -1; return; }
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) { state = -1; return; }
    if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) { state = -1; return; }
    table = calloc(SLOTS, sizeof(entry_t));
    state = table ? 1 : -1;
}

int ll_bf16_available(void) {
    pthread_once(&once, setup);
    return state == 1;
}

const char *ll_bf16_isa_name(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx2: return "avx2";
    default: return "other";
    }
}

// libgomp's, which oneDNN runs on (Debian builds it with DNNL_CPU_RUNTIME=OMP).
extern void omp_set_num_threads(int);
void ll_bf16_set_threads(int n) { omp_set_num_threads(n < 1 ? 1 : n); }

static _Thread_local int thread_enabled;
void ll_bf16_set_thread_enabled(int on) { thread_enabled = on != 0; }
int ll_bf16_thread_enabled(void) { return thread_enabled; }


static void release_primitives(entry_t *e) {
    if (e->reorder_a) dnnl_primitive_destroy(e->reorder_a);
    if (e->reorder_b) dnnl_primitive_destroy(e->reorder_b);
    if (e->matmul) dnnl_primitive_destroy(e->matmul);
    e->reorder_a = e->reorder_b = e->matmul = NULL;
}

static void destroy(entry_t *e) {
    release_primitives(e);
    memset(e, 0, sizeof *e);
}

static void flush(void) {
    for (size_t i = 0; i < SLOTS; i++) if (table[i].used) destroy(&table[i]);
    cached = 0;
}

static dnnl_primitive_t make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to) {
    dnnl_primitive_desc_t pd;
    if (dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, NULL) != dnnl_success) return NULL;
    dnnl_primitive_t p = NULL;
    if (dnnl_primitive_create(&p, pd) != dnnl_success) p = NULL;
    dnnl_primitive_desc_destroy(pd);
    return p;
}

// A stored matrix of `rows × cols` logical shape: `trans` means it is stored transposed
// (cols × rows, row stride ld). Its float32 view and a dense bfloat16 copy in the same
// physical order.
static int describe(int trans, size_t rows, size_t cols, size_t ld, dnnl_memory_desc_t *f32, dnnl_memory_desc_t *bf16) {
    dnnl_dims_t dims = {(dnnl_dim_t)rows, (dnnl_dim_t)cols};
    dnnl_dims_t s32 = {trans ? 1 : (dnnl_dim_t)ld, trans ? (dnnl_dim_t)ld : 1};
    dnnl_dims_t s16 = {trans ? 1 : (dnnl_dim_t)cols, trans ? (dnnl_dim_t)rows : 1};
    if (dnnl_memory_desc_init_by_strides(f32, 2, dims, dnnl_f32, s32) != dnnl_success) return 0;
    if (dnnl_memory_desc_init_by_strides(bf16, 2, dims, dnnl_bf16, s16) != dnnl_success) return 0;
    return 1;
}

static int build(entry_t *e) {
    if (!describe(e->ta, e->m, e->k, e->lda, &e->a32, &e->a16)) return 0;
    if (!describe(e->tb, e->k, e->n, e->ldb, &e->b32, &e->b16)) return 0;
    dnnl_dims_t dc = {(dnnl_dim_t)e->m, (dnnl_dim_t)e->n}, sc = {(dnnl_dim_t)e->ldc, 1};
    if (dnnl_memory_desc_init_by_strides(&e->c32, 2, dc, dnnl_f32, sc) != dnnl_success) return 0;
    e->reorder_a = make_reorder(&e->a32, &e->a16);
    e->reorder_b = make_reorder(&e->b32, &e->b16);
    if (!e->reorder_a || !e->reorder_b) return 0;
    dnnl_matmul_desc_t md;
    if (dnnl_matmul_desc_init(&md, &e->a16, &e->b16, NULL, &e->c32) != dnnl_success) return 0;
    dnnl_primitive_attr_t attr = NULL;
    if (e->beta1) {
        dnnl_post_ops_t po;
        if (dnnl_primitive_attr_create(&attr) != dnnl_success) return 0;
        dnnl_post_ops_create(&po);
        dnnl_post_ops_append_sum(po, 1.0f);
        dnnl_primitive_attr_set_post_ops(attr, po);
        dnnl_post_ops_destroy(po);
    }
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) return 0;
    st = dnnl_primitive_create(&e->matmul, pd);
    dnnl_primitive_desc_destroy(pd);
    return st == dnnl_success;
}

static size_t hash(int ta, int tb, int beta1, size_t m, size_t n, size_t k, size_t lda, size_t ldb, size_t ldc) {
    uint64_t h = 1469598103934665603ull;
    uint64_t v[9] = {(uint64_t)ta, (uint64_t)tb, (uint64_t)beta1, m, n, k, lda, ldb, ldc};
    for (int i = 0; i < 9; i++) { h ^= v[i]; h *= 1099511628211ull; h ^= h >> 29; }
    return (size_t)h;
}

static entry_t *lookup(int ta, int tb, int beta1, size_t m, size_t n, size_t k, size_t lda, size_t ldb, size_t ldc) {
    if (cached >= SLOTS / 2) flush();
    size_t i = hash(ta, tb, beta1, m, n, k, lda, ldb, ldc) & (SLOTS - 1);
    for (;;) {
        entry_t *e = &table[i];
        if (!e->used) break;
        if (e->ta == ta && e->tb == tb && e->beta1 == beta1 && e->m == m && e->n == n && e->k == k
            && e->lda == lda && e->ldb == ldb && e->ldc == ldc) return e->matmul ? e : NULL;
        i = (i + 1) & (SLOTS - 1);
    }
    entry_t *e = &table[i];
    *e = (entry_t){.used = 1, .ta = ta, .tb = tb, .beta1 = beta1, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb, .ldc = ldc};
    cached++;
    if (!build(e)) { // remember the refusal: the caller falls back without retrying
        release_primitives(e);
        return NULL;
    }
    return e;
}

static int grow(uint16_t **buf, size_t *cap, size_t count) {
    if (count <= *cap) return 1;
    free(*buf);
    size_t want = count + count / 4;
    *buf = aligned_alloc(64, (want * 2 + 63) / 64 * 64);
    *cap = *buf ? want : 0;
    return *buf != NULL;
}

static int execute(dnnl_primitive_t p, int n, const int *kinds, const dnnl_memory_desc_t **descs, void **ptrs) {
    dnnl_exec_arg_t args[3];
    dnnl_memory_t mem[3];
    int ok = 1, made = 0;
    for (int i = 0; i < n && ok; i++) {
        ok = dnnl_memory_create(&mem[i], descs[i], engine, ptrs[i]) == dnnl_success;
        if (ok) { args[i].arg = kinds[i]; args[i].memory = mem[i]; made++; }
    }
    if (ok) ok = dnnl_primitive_execute(p, stream, n, args) == dnnl_success;
    if (ok) ok = dnnl_stream_wait(stream) == dnnl_success;
    for (int i = 0; i < made; i++) dnnl_memory_destroy(mem[i]);
    return ok;
}

int ll_bf16_gemm(int trans_a, int trans_b, size_t m, size_t n, size_t k,
                 const float *a, size_t lda, const float *b, size_t ldb,
                 float beta, float *c, size_t ldc) {
    if (!ll_bf16_available()) return 0;
    if (m == 0 || n == 0 || k == 0) return 0;
    int beta1;
    if (beta == 0) beta1 = 0; else if (beta == 1) beta1 = 1; else return 0;
    pthread_mutex_lock(&lock);
    int ok = 0;
    entry_t *e = lookup(trans_a != 0, trans_b != 0, beta1, m, n, k, lda, ldb, ldc);
    if (e && grow(&buf_a, &cap_a, m * k) && grow(&buf_b, &cap_b, k * n)) {
        int rk[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
        const dnnl_memory_desc_t *da[2] = {&e->a32, &e->a16}, *db[2] = {&e->b32, &e->b16};
        void *pa[2] = {(void *)a, buf_a}, *pb[2] = {(void *)b, buf_b};
        int mk[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
        const dnnl_memory_desc_t *dm[3] = {&e->a16, &e->b16, &e->c32};
        void *pm[3] = {buf_a, buf_b, c};
        ok = execute(e->reorder_a, 2, rk, da, pa) && execute(e->reorder_b, 2, rk, db, pb);
        // Once the product starts, C may be partly written: a failure there cannot fall
        // back (beta = 1 would add twice), so it ends the process with a message.
        if (ok && !execute(e->matmul, 3, mk, dm, pm)) {
            fprintf(stderr, "latentlens: oneDNN bfloat16 matmul failed (%zux%zux%zu); rerun without --matmul bf16\n", m, n, k);
            abort();
        }
    }
    pthread_mutex_unlock(&lock);
    return ok;
}

int ll_bf16_gemm_if_enabled(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                            const float *a, size_t lda, const float *b, size_t ldb,
                            float beta, float *c, size_t ldc) {
    if (!thread_enabled || alpha != 1.0f || m * n * k < LL_BF16_MIN_WORK) return 0;
    return ll_bf16_gemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

// Anonymous memory that grows in place: the training activations' scratch buffers (see
// ScratchBuffer in LensMath). mremap keeps the pages already touched, so a buffer that grows
// faults in only its new tail instead of the whole buffer again.
#define _GNU_SOURCE
#include "ll_kernels.h"
#include <sys/mman.h>

void *ll_map_grow(void *old, size_t old_bytes, size_t new_bytes) {
    void *p = old ? mremap(old, old_bytes, new_bytes, MREMAP_MAYMOVE)
                  : mmap(NULL, new_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, new_bytes, MADV_HUGEPAGE);   // advice only; ignored where THP is off
#endif
    return p;
}

void ll_map_free(void *p, size_t bytes) {
    if (p) munmap(p, bytes);
}

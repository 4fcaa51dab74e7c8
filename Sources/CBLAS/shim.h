#ifndef CBLAS_SHIM_H
#define CBLAS_SHIM_H
// Debian: OpenBLAS's own cblas.h (pinned through pkg-config "openblas"), which also
// declares openblas_set_num_threads / openblas_get_num_threads / openblas_get_corename.
#include <cblas.h>
#endif

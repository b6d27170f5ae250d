// OpenBLAS picks its kernels from the processor's model number when it loads. A model newer
// than the library (Debian's 0.3.21 does not know recent Xeons) falls back to its oldest
// x86-64 kernels, "Prescott" (SSE3): sgemm runs 4-5x slower than with the AVX-512 or AVX2
// kernels the processor has. When OpenBLAS reports that fallback and the processor has the
// instructions of a newer kernel set, this re-runs OpenBLAS's own kernel selection with that
// set named (OPENBLAS_CORETYPE, the variable OpenBLAS documents for this), before any BLAS
// call is made: at load time. Nothing happens when OPENBLAS_CORETYPE is set, when
// RECFUSE_BLAS_RETUNE=0, when the library is not a DYNAMIC_ARCH build, or when OpenBLAS
// recognised the processor.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "rec_kernels.h"

static int retuned = 0;

const char *rec_blas_core(void) {
    char *(*name)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
    return name ? name() : "unknown";
}

const char *rec_blas_retuned_from(void) { return retuned ? "Prescott" : NULL; }

#if defined(__x86_64__)
__attribute__((constructor)) static void rec_blas_retune(void) {
    const char *off = getenv("RECFUSE_BLAS_RETUNE");
    if (getenv("OPENBLAS_CORETYPE") || (off && strcmp(off, "0") == 0)) return;
    void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
    void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    if (!quit || !init || strcmp(rec_blas_core(), "Prescott") != 0) return;
    __builtin_cpu_init();
    const char *want = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
    else if (__builtin_cpu_supports("avx"))
        want = "Sandybridge";
    if (!want) return;
    setenv("OPENBLAS_CORETYPE", want, 0);
    quit();
    init();
    unsetenv("OPENBLAS_CORETYPE");
    retuned = 1;
}
#endif

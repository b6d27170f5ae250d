#ifndef RECFUSE_CBLAS_SHIM_H
#define RECFUSE_CBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
#endif

#ifndef RECFUSE_CLIBPQ_SHIM_H
#define RECFUSE_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif

#ifndef RECFUSE_CCURL_SHIM_H
#define RECFUSE_CCURL_SHIM_H
#include <curl/curl.h>
#endif

#ifndef RECFUSE_REC_SHIMS_H
#define RECFUSE_REC_SHIMS_H
// Typed wrappers around C APIs that Swift cannot call directly.
//
// curl_easy_setopt and curl_easy_getinfo are variadic C functions; Swift imports no
// variadic C function, so each argument type gets one fixed-signature wrapper here.
#include <curl/curl.h>

typedef size_t (*rec_curl_data_fn)(char *ptr, size_t size, size_t nmemb, void *userdata);

CURLcode rec_curl_setopt_long(CURL *h, CURLoption opt, long value);
CURLcode rec_curl_setopt_off(CURL *h, CURLoption opt, curl_off_t value);
CURLcode rec_curl_setopt_str(CURL *h, CURLoption opt, const char *value);
CURLcode rec_curl_setopt_ptr(CURL *h, CURLoption opt, void *value);
CURLcode rec_curl_setopt_slist(CURL *h, CURLoption opt, struct curl_slist *value);
CURLcode rec_curl_setopt_datafn(CURL *h, CURLoption opt, rec_curl_data_fn fn);
CURLcode rec_curl_getinfo_long(CURL *h, CURLINFO info, long *out);
CURLcode rec_curl_getinfo_double(CURL *h, CURLINFO info, double *out);


// Atomically exchanges two paths (Linux renameat2 with RENAME_EXCHANGE): both must exist.
// Returns 0, or -1 with errno set (EINVAL/ENOSYS where the file system or kernel lacks it).
int rec_rename_exchange(const char *a, const char *b);

// fsync of a file or directory by path: 0, or -1 with errno set.
int rec_fsync_path(const char *path);


// glibc's malloc_trim(0): returns freed heap pages to the system (1 if any were). Swift's Glibc
// module does not import <malloc.h>.
int rec_malloc_trim(void);

// Sets the calling thread's nice value (Linux: per thread), e.g. 19 for work that must yield
// the CPU to everything else. Returns 0, or -1 with errno set.
int rec_nice_this_thread(int nice);

// Puts the calling thread in SCHED_IDLE (Linux: per thread): it runs only when no other
// thread wants the CPU, and any other thread that wakes preempts it at once. 0, or -1.
int rec_idle_this_thread(void);

#endif

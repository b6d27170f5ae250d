#define _GNU_SOURCE
#include "rec_shims.h"

#include <malloc.h>
#include <sys/resource.h>
#include <sched.h>

CURLcode rec_curl_setopt_long(CURL *h, CURLoption opt, long value) { return curl_easy_setopt(h, opt, value); }
CURLcode rec_curl_setopt_off(CURL *h, CURLoption opt, curl_off_t value) { return curl_easy_setopt(h, opt, value); }
CURLcode rec_curl_setopt_str(CURL *h, CURLoption opt, const char *value) { return curl_easy_setopt(h, opt, value); }
CURLcode rec_curl_setopt_ptr(CURL *h, CURLoption opt, void *value) { return curl_easy_setopt(h, opt, value); }
CURLcode rec_curl_setopt_slist(CURL *h, CURLoption opt, struct curl_slist *value) { return curl_easy_setopt(h, opt, value); }
CURLcode rec_curl_setopt_datafn(CURL *h, CURLoption opt, rec_curl_data_fn fn) { return curl_easy_setopt(h, opt, fn); }
CURLcode rec_curl_getinfo_long(CURL *h, CURLINFO info, long *out) { return curl_easy_getinfo(h, info, out); }
CURLcode rec_curl_getinfo_double(CURL *h, CURLINFO info, double *out) { return curl_easy_getinfo(h, info, out); }

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int rec_rename_exchange(const char *a, const char *b)
{
#ifdef SYS_renameat2
	return (int) syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
#else
	errno = ENOSYS;
	return -1;
#endif
}

int rec_fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -1;
	}
	int rv = fsync(fd);
	int e  = errno;
	close(fd);
	errno = e;
	return rv;
}

int rec_malloc_trim(void)
{
	return malloc_trim(0);
}

int rec_nice_this_thread(int nice)
{
	return setpriority(PRIO_PROCESS, (id_t) syscall(SYS_gettid), nice);
}

int rec_idle_this_thread(void)
{
	struct sched_param p = {0};
	return sched_setscheduler(0, SCHED_IDLE, &p);
}

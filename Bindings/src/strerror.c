/* The parts of librecfuse's C API that need no Swift: status descriptions and the ABI version. */
#include "recfuse.h"

const char *
recfuse_strerror(int status)
{
	switch (status) {
	case RECFUSE_OK: return "ok";
	case RECFUSE_CANCELLED: return "cancelled";
	case RECFUSE_UNKNOWN: return "unknown error";
	case RECFUSE_INVALID_ARGUMENT: return "invalid argument";
	case RECFUSE_DEADLINE_EXCEEDED: return "deadline exceeded";
	case RECFUSE_NOT_FOUND: return "not found";
	case RECFUSE_ALREADY_EXISTS: return "already exists";
	case RECFUSE_PERMISSION_DENIED: return "permission denied";
	case RECFUSE_RESOURCE_EXHAUSTED: return "resource exhausted";
	case RECFUSE_FAILED_PRECONDITION: return "failed precondition";
	case RECFUSE_ABORTED: return "aborted";
	case RECFUSE_OUT_OF_RANGE: return "out of range";
	case RECFUSE_UNIMPLEMENTED: return "unimplemented";
	case RECFUSE_INTERNAL: return "internal error";
	case RECFUSE_UNAVAILABLE: return "unavailable";
	case RECFUSE_DATA_LOSS: return "data loss";
	default: return "unrecognised status";
	}
}

int
recfuse_abi_version(void)
{
	return RECFUSE_ABI_VERSION;
}

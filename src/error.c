/* error: the message table behind the one error convention (error.h). */
#include "error.h"
#include "tcpx/tcpx.h"     /* tcpx_strerror() is public */

const char *tcpx_strerror(int code)
{
	if (code < 0)
		code = -code;
	switch (code) {
	case TCPX_OK: return "success";
	case TCPX_E_MALFORMED: return "malformed frame";
	case TCPX_E_FRAME_TOO_LARGE: return "frame too large";
	case TCPX_E_UNEXPECTED: return "unexpected frame";
	case TCPX_E_BAD_MAGIC: return "not a TCPX peer (bad magic)";
	case TCPX_E_VERSION: return "no common protocol version";
	case TCPX_E_SIZE: return "data does not match the declared size";
	case TCPX_E_DECOMPRESS: return "corrupt compressed data";
	case TCPX_E_TIMEOUT: return "timed out";
	case TCPX_E_BUSY: return "receiver busy";
	case TCPX_E_SHUTDOWN: return "receiver shutting down";
	case TCPX_E_TOO_MANY_FILES: return "too many files in one connection";
	case TCPX_E_INSECURE: return "encryption required";
	case TCPX_E_AUTH: return "authentication failed";
	case TCPX_E_UNAUTHORIZED: return "sender key not authorized";
	case TCPX_E_PEER_KEY: return "receiver key not trusted";
	case TCPX_E_OFFERS: return "too many offers outstanding";
	case TCPX_E_NOT_OFFERED: return "file not offered or not answered so";
	case TCPX_E_JOIN: return "connection may not join the session";
	case TCPX_E_JOIN_LOST: return "a joined connection was lost";
	case TCPX_E_PLACE: return "data placed outside the file or twice";
	case TCPX_E_BAD_NAME: return "name refused";
	case TCPX_E_EXISTS: return "file exists";
	case TCPX_E_DIGEST: return "digest mismatch";
	case TCPX_E_TOO_BIG: return "file too large";
	case TCPX_E_NO_SPACE: return "no space left on receiver";
	case TCPX_E_IO: return "i/o error on receiver";
	case TCPX_E_ABORTED: return "aborted by sender";
	case TCPX_E_DENIED: return "permission denied on receiver";
	case TCPX_E_NO_OVERWRITE: return "overwrite not allowed by the receiver";
	case TCPX_E_DUPLICATE: return "name already used in this session";
	case TCPX_E_ONE_FILE: return "receiver takes one file only";
	case TCPX_E_SYSTEM: return "system error";
	case TCPX_E_NOMEM: return "out of memory";
	case TCPX_E_CLOSED: return "connection closed by peer";
	case TCPX_E_INTERNAL: return "internal error";
	case TCPX_E_ADDRESS: return "bad address";
	case TCPX_E_RESOLVE: return "cannot resolve";
	case TCPX_E_LOCKED: return "locked by another process";
	default: return "unknown error";
	}
}


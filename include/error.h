/*
 * error: the one error convention of tcpxfer.
 *
 * Every function that can fail returns 0 (or a non-negative count) on
 * success and -TCPX_E_* on failure.  The same numbers travel on the wire as
 * the error codes of RESULT and ERROR frames (man/tcpxfer.5), so a code never
 * changes meaning between the log, the exit status and the peer.
 * TCPX_E_SYSTEM means "see errno"; callers that report it keep errno intact
 * until the message is printed.
 */
#ifndef TCPX_ERROR_H
#define TCPX_ERROR_H

enum tcpx_code {
	TCPX_OK = 0,
	/* connection-fatal protocol errors (sent in an ERROR frame) */
	TCPX_E_MALFORMED = 1,     /* payload does not match its frame type's layout */
	TCPX_E_FRAME_TOO_LARGE = 2, /* declared payload length above the limit */
	TCPX_E_UNEXPECTED = 3,    /* unknown frame type, or a type not allowed now */
	TCPX_E_BAD_MAGIC = 4,     /* HELLO without the TCPX magic */
	TCPX_E_VERSION = 5,       /* no protocol version in common */
	TCPX_E_SIZE = 6,          /* data beyond, or short of, the declared size */
	TCPX_E_DECOMPRESS = 7,    /* corrupt zlib data or wrong inflated length */
	TCPX_E_TIMEOUT = 8,       /* peer idle for longer than the timeout */
	TCPX_E_BUSY = 9,          /* receiver serves its maximum of clients */
	TCPX_E_SHUTDOWN = 10,     /* receiver is stopping */
	TCPX_E_TOO_MANY_FILES = 11, /* per-connection file limit reached */
	/* 12-15: keys and encryption (man/tcpxfer.5, SECURE) */
	TCPX_E_INSECURE = 12,     /* one side requires SECURE, the other did not ask or grant it */
	TCPX_E_AUTH = 13,         /* handshake or record failed authentication */
	TCPX_E_UNAUTHORIZED = 14, /* the sender's key is not in the receiver's list */
	TCPX_E_PEER_KEY = 15,     /* the receiver's key is unknown or changed */
	TCPX_E_OFFERS = 18,       /* more OFFERs outstanding than the window */
	TCPX_E_NOT_OFFERED = 19,  /* FILE/RESUME that its ANSWER did not ask for */
	TCPX_E_JOIN = 20,         /* JOIN refused: unknown or used token or index, late, too many */
	TCPX_E_JOIN_LOST = 21,    /* a joined connection of the session ended before BYE */
	TCPX_E_PLACE = 22,        /* PLACE/DATA overlaps, outside the file, too many holes */
	/* per-file verdicts (sent in a RESULT frame; the connection goes on) */
	TCPX_E_BAD_NAME = 32,     /* name refused: absolute, '..', control chars... */
	TCPX_E_EXISTS = 33,       /* final name exists and overwrite is off */
	TCPX_E_DIGEST = 34,       /* BLAKE2b-512 of the data differs from END's */
	TCPX_E_TOO_BIG = 35,      /* file larger than the receiver accepts */
	TCPX_E_NO_SPACE = 36,     /* no room on the receiver's file system */
	TCPX_E_IO = 37,           /* receiver could not write the file */
	TCPX_E_ABORTED = 38,      /* sender gave the file up (ABORT frame) */
	TCPX_E_DENIED = 39,       /* receiver has no permission to create it */
	TCPX_E_NO_OVERWRITE = 40, /* sender asked to overwrite; receiver does not allow it */
	TCPX_E_DUPLICATE = 41,    /* a file of this session already has the name */
	TCPX_E_ONE_FILE = 45,     /* receiver takes one file (tcpget --stdout) */
	/* local-only codes (never on the wire) */
	TCPX_E_SYSTEM = 100,      /* a system call failed: errno tells */
	TCPX_E_NOMEM = 101,
	TCPX_E_CLOSED = 102,      /* peer closed the connection */
	TCPX_E_INTERNAL = 103,
	TCPX_E_ADDRESS = 104,     /* not HOST, HOST:PORT or [IPv6]:PORT */
	TCPX_E_RESOLVE = 105,     /* the resolver failed: its own code tells */
	TCPX_E_LOCKED = 106,      /* another process holds the lock */
};

/* A short lower-case description ("digest mismatch"), never NULL. */
const char *tcpx_strerror(int code);

#endif

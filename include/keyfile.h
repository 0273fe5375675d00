/*
 * keyfile: key files on disk (the I/O half of keys.h).
 *
 * Secret keys live in libsodium's guarded memory (sodium_malloc: guard
 * pages, mlock, wiped on free) and are read-only once loaded; the file's
 * text is read into guarded memory too and wiped.  A secret key file
 * that group or others may read is refused, as OpenSSH refuses one.
 * Messages ("why") are for "PROG: FILE: why" and keep errno's words.
 */
#ifndef TCPX_KEYFILE_H
#define TCPX_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

/* The environment variable that names the key file when --key is not
 * given. */
#define KEYFILE_ENV "TCPX_KEY"
#define KEYFILE_WHY_MAX 256

struct tcpx_identity {
	uint8_t *sk;                     /* KEYS_SECRET_LEN, guarded */
	uint8_t pk[KEYS_PUBLIC_LEN];
};

/* Writes a new key pair: path (mode 0600) and path.pub (0644, one public
 * key line with comment); neither may exist (never overwritten).  0 and
 * the public key, or -1 with why. */
int keyfile_generate(const char *path, const char *comment,
		     uint8_t pk[KEYS_PUBLIC_LEN], char why[KEYFILE_WHY_MAX]);
/* Loads a secret key file; NULL with why (unreadable, too open, not a
 * key). */
struct tcpx_identity *keyfile_load(const char *path,
				   char why[KEYFILE_WHY_MAX]);
void keyfile_identity_free(struct tcpx_identity *id);

/* A public key given as the key itself ("tcpx-ed25519 BASE64" or BASE64
 * alone) or as a file holding one (a .pub file): 0, or -1 with why. */
int keyfile_peer_key(const char *arg, uint8_t pk[KEYS_PUBLIC_LEN],
		     char why[KEYFILE_WHY_MAX]);

/* A list of public keys, one per line (blank and '#' lines skipped),
 * re-read on demand (SIGHUP); safe to use from several threads. */
struct keyring;
/* NULL with why: unreadable, or a line that is no key (its number). */
struct keyring *keyring_load(const char *path, char why[KEYFILE_WHY_MAX]);
/* Reads the file again; on failure the old list stays (-1 and why). */
int keyring_reload(struct keyring *kr, char why[KEYFILE_WHY_MAX]);
int keyring_has(struct keyring *kr, const uint8_t pk[KEYS_PUBLIC_LEN]);
size_t keyring_count(struct keyring *kr);
void keyring_free(struct keyring *kr);

/* The known-receivers file: $XDG_CONFIG_HOME/tcpxfer/known_receivers,
 * else ~/.config/tcpxfer/known_receivers; malloc'ed (NULL: no home). */
char *keyfile_known_path(void);
enum { KNOWN_MATCH = 0, KNOWN_UNKNOWN = 1, KNOWN_CHANGED = 2 };
/* Looks name (HOST:PORT) up: KNOWN_MATCH, KNOWN_UNKNOWN (no line for it,
 * or no file), KNOWN_CHANGED (a line with another key: in *old), or -1
 * with why (unreadable, a malformed line). */
int keyfile_known_check(const char *path, const char *name,
			const uint8_t pk[KEYS_PUBLIC_LEN],
			uint8_t old[KEYS_PUBLIC_LEN], char why[KEYFILE_WHY_MAX]);
/* Appends "name key" (creating the file and its directory, 0700): 0 or
 * -1 with why. */
int keyfile_known_add(const char *path, const char *name,
		      const uint8_t pk[KEYS_PUBLIC_LEN], char why[KEYFILE_WHY_MAX]);

#endif

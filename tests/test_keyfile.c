/* Tests for src/keyfile.c: key files on disk, the authorized list and the
 * known-receivers file. */
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyfile.h"
#include "testutil.h"

static char dir[] = "/tmp/tcpx-keyfile.XXXXXX";

static void setup(void)
{
	cr_assert_eq(sodium_init() >= 0, 1);
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(keyfile, .init = setup, .fini = teardown);

static const char *at(const char *name)
{
	static char p[4][256];
	static int i;
	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

Test(keyfile, generate_load_and_refuse)
{
	char why[KEYFILE_WHY_MAX];
	uint8_t pk[32], pk2[32];
	struct stat sb;

	cr_assert_eq(keyfile_generate(at("k"), "c", pk, why), 0);
	cr_assert_eq(stat(at("k"), &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600);
	cr_assert_eq(stat(at("k.pub"), &sb), 0);
	cr_assert_eq(keyfile_generate(at("k"), "c", pk2, why), -1, "never overwritten");
	cr_assert(strstr(why, "exists") != NULL);
	struct tcpx_identity *id = keyfile_load(at("k"), why);
	cr_assert_not_null(id, "%s", why);
	cr_assert_eq(memcmp(id->pk, pk, 32), 0);
	keyfile_identity_free(id);
	cr_assert_eq(keyfile_peer_key(at("k.pub"), pk2, why), 0);
	cr_assert_eq(memcmp(pk, pk2, 32), 0);
	chmod(at("k"), 0640);
	cr_assert_null(keyfile_load(at("k"), why));
	cr_assert(strstr(why, "too open") != NULL, "%s", why);
	cr_assert_null(keyfile_load(at("k.pub"), why), "a public key is no secret key");
	cr_assert_null(keyfile_load(at("none"), why));
}

Test(keyfile, keyring_reload_keeps_the_old_list_on_a_bad_file)
{
	char why[KEYFILE_WHY_MAX], line[KEYS_LINE_MAX], text[2 * KEYS_LINE_MAX];
	uint8_t a[32], b[32];
	memset(a, 1, 32);
	memset(b, 2, 32);
	keys_format_public(line, a, "alice");
	snprintf(text, sizeof(text), "# senders\n\n%s", line);
	write_text(at("auth"), text, 0644);
	struct keyring *kr = keyring_load(at("auth"), why);
	cr_assert_not_null(kr, "%s", why);
	cr_assert_eq(keyring_count(kr), 1u);
	cr_assert(keyring_has(kr, a));
	cr_assert(!keyring_has(kr, b));
	write_text(at("auth"), "tcpx-ed25519 nonsense\n", 0644);
	cr_assert_eq(keyring_reload(kr, why), -1);
	cr_assert(strstr(why, "line 1") != NULL, "%s", why);
	cr_assert(keyring_has(kr, a), "the previous list stays");
	keys_format_public(line, b, NULL);
	write_text(at("auth"), line, 0644);
	cr_assert_eq(keyring_reload(kr, why), 0);
	cr_assert(keyring_has(kr, b) && !keyring_has(kr, a));
	keyring_free(kr);
}

Test(keyfile, known_receivers)
{
	char why[KEYFILE_WHY_MAX];
	uint8_t a[32], b[32], old[32];
	memset(a, 3, 32);
	memset(b, 4, 32);
	const char *path = at("cfg/tcpxfer/known_receivers");
	cr_assert_eq(keyfile_known_check(path, "h:1", a, old, why), KNOWN_UNKNOWN);
	cr_assert_eq(keyfile_known_add(path, "h:1", a, why), 0, "%s", why);
	cr_assert_eq(keyfile_known_check(path, "h:1", a, old, why), KNOWN_MATCH);
	cr_assert_eq(keyfile_known_check(path, "h:2", a, old, why), KNOWN_UNKNOWN);
	cr_assert_eq(keyfile_known_check(path, "h:1", b, old, why), KNOWN_CHANGED);
	cr_assert_eq(memcmp(old, a, 32), 0, "the recorded key is given back");
	struct stat sb;
	cr_assert_eq(stat(at("cfg/tcpxfer"), &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0700);
}

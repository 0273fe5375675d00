/* send: sends files to a tcpget receiver through libtcpx, and prints one
 * line per file as b2sum does (the BLAKE2b-512 both sides verified).
 *
 *   cc -o send send.c $(pkg-config --cflags --libs libtcpx)
 *   ./send HOST PORT FILE...
 */
#include <stdio.h>
#include <tcpx/tcpx.h>

static void on_event(const struct tcpx_event *ev, void *arg)
{
	(void)arg;
	switch (ev->type) {
	case TCPX_EVENT_FILE_DONE:
		if (ev->is_dir)
			break;
		for (int i = 0; i < 64; i++)
			printf("%02x", ev->digest[i]);
		printf("  %s\n", ev->path);
		break;
	case TCPX_EVENT_FILE_FAILED:
		fprintf(stderr, "send: %s: %s\n", ev->path ? ev->path : "?",
			ev->msg ? ev->msg : tcpx_strerror(ev->code));
		break;
	case TCPX_EVENT_MESSAGE:
		if (ev->level == TCPX_LEVEL_ERROR)
			fprintf(stderr, "send: %s%s%s\n", ev->object ? ev->object : "",
				ev->object ? ": " : "", ev->msg);
		break;
	default:
		break;
	}
}

int main(int argc, char **argv)
{
	struct tcpx_send_options opt;

	if (argc < 4) {
		fprintf(stderr, "usage: send HOST PORT FILE...  (libtcpx %s)\n",
			tcpx_version());
		return TCPX_SEND_USAGE;
	}
	tcpx_send_options_init(&opt);
	opt.on_event = on_event;
	return tcpx_send(argv[1], argv[2], (const char *const *)argv + 3,
			 (size_t)(argc - 3), &opt);
}

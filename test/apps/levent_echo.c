/* SPDX-License-Identifier: MIT */
/*
 * levent_echo: a libevent bufferevent echo server and client, used by the
 * compatibility tests to run X-IO under each libevent backend (epoll, poll,
 * select: EVENT_NOEPOLL / EVENT_NOPOLL choose).
 *
 *   levent_echo server PORT
 *       echo every connection on 127.0.0.1:PORT until SIGTERM/SIGINT.
 *   levent_echo client PORT KIB [CONNS]
 *       open CONNS (default 4) connections at once; each sends KIB KiB of a
 *       per-connection pseudo-random stream in 64 KiB pieces (as the output
 *       buffer drains) and checks every echoed byte against the stream.
 *       Prints "ok METHOD CONNS BYTES" and exits 0, or says what differed
 *       and exits 1.
 * Both print the libevent backend they use on stderr ("method: epoll").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define PIECE (64 * 1024)

static int failed;

/* ---- the byte stream ----------------------------------------------------- */

struct stream {
	uint64_t state;
};

static uint8_t stream_next(struct stream *s)
{
	/* xorshift64*: cheap, and a shifted or repeated chunk never matches */
	s->state ^= s->state >> 12;
	s->state ^= s->state << 25;
	s->state ^= s->state >> 27;
	return (uint8_t)((s->state * 0x2545F4914F6CDD1DULL) >> 56);
}

/* ---- server --------------------------------------------------------------- */

#define SRV_QUEUE_MAX (1024 * 1024)

static void srv_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	bufferevent_write_buffer(bev, bufferevent_get_input(bev));
	/* flow control: stop reading while 1 MiB of echo is queued */
	if (evbuffer_get_length(bufferevent_get_output(bev)) > SRV_QUEUE_MAX)
		bufferevent_disable(bev, EV_READ);
}

static void srv_written(struct bufferevent *bev, void *arg)
{
	(void)arg;
	/* called when the output buffer has drained: read again */
	bufferevent_enable(bev, EV_READ);
}

static void srv_drained(struct bufferevent *bev, void *arg)
{
	(void)arg;
	bufferevent_free(bev); /* the peer closed and its echo is out */
}

static void srv_event(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & BEV_EVENT_EOF) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
			bufferevent_free(bev);
		} else {
			bufferevent_disable(bev, EV_READ);
			bufferevent_setcb(bev, NULL, srv_drained, NULL, NULL);
		}
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		fprintf(stderr, "server: connection error: %s\n", strerror(errno));
		bufferevent_free(bev);
	}
}

static void srv_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
		       void *arg)
{
	(void)sa;
	(void)len;
	(void)arg;
	struct event_base *base = evconnlistener_get_base(l);
	struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		evutil_closesocket(fd);
		return;
	}
	bufferevent_setcb(bev, srv_read, srv_written, srv_event, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static int run_server(struct event_base *base, int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct evconnlistener *l = evconnlistener_new_bind(
	    base, srv_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (!l) {
		perror("server: listen");
		return 1;
	}
	struct event *st = evsignal_new(base, SIGTERM, on_signal, base);
	struct event *si = evsignal_new(base, SIGINT, on_signal, base);
	event_add(st, NULL);
	event_add(si, NULL);
	event_base_dispatch(base);
	event_free(st);
	event_free(si);
	evconnlistener_free(l);
	return 0;
}

/* ---- client --------------------------------------------------------------- */

struct conn {
	int idx;
	size_t total, sent, got;
	struct stream tx, rx;
	struct bufferevent *bev;
	int *left;
	struct event_base *base;
};

static void cli_finish(struct conn *c)
{
	bufferevent_free(c->bev);
	c->bev = NULL;
	if (--*c->left == 0)
		event_base_loopexit(c->base, NULL);
}

static void cli_fill(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	static uint8_t buf[PIECE];
	/* one piece at a time: the next one when the output buffer has drained */
	if (c->sent >= c->total)
		return;
	size_t n = c->total - c->sent < PIECE ? c->total - c->sent : PIECE;
	for (size_t i = 0; i < n; i++)
		buf[i] = stream_next(&c->tx);
	bufferevent_write(bev, buf, n);
	c->sent += n;
}

static void cli_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t buf[16384];
	size_t n;
	while ((n = evbuffer_remove(in, buf, sizeof(buf))) > 0 && n != (size_t)-1) {
		for (size_t i = 0; i < n; i++) {
			uint8_t want = stream_next(&c->rx);
			if (buf[i] != want) {
				fprintf(stderr,
					"client: connection %d: byte %zu is 0x%02x, want 0x%02x\n",
					c->idx, c->got + i, buf[i], want);
				failed = 1;
				cli_finish(c);
				return;
			}
		}
		c->got += n;
		if (c->got > c->total) {
			fprintf(stderr, "client: connection %d: %zu bytes echoed, only %zu sent\n",
				c->idx, c->got, c->total);
			failed = 1;
			cli_finish(c);
			return;
		}
	}
	if (c->got == c->total)
		cli_finish(c);
}

static void cli_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		cli_fill(bev, c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		fprintf(stderr, "client: connection %d: %s after %zu of %zu bytes echoed (%s)\n",
			c->idx, what & BEV_EVENT_EOF ? "EOF" : "error", c->got, c->total,
			what & BEV_EVENT_ERROR ? strerror(EVUTIL_SOCKET_ERROR()) : "-");
		failed = 1;
		cli_finish(c);
	}
}

static int run_client(struct event_base *base, int port, size_t kib, int nconn)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct conn *cs = calloc((size_t)nconn, sizeof(*cs));
	int left = nconn;
	if (!cs)
		return 1;
	for (int i = 0; i < nconn; i++) {
		struct conn *c = &cs[i];
		c->idx = i;
		c->total = kib * 1024;
		c->tx.state = c->rx.state = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
		c->left = &left;
		c->base = base;
		c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
		if (!c->bev)
			return 1;
		bufferevent_setcb(c->bev, cli_read, cli_fill, cli_event, c);
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
		if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
			fprintf(stderr, "client: connect %d failed: %s\n", i,
				strerror(EVUTIL_SOCKET_ERROR()));
			return 1;
		}
	}
	event_base_dispatch(base);
	size_t bytes = 0;
	for (int i = 0; i < nconn; i++) {
		bytes += cs[i].got;
		if (cs[i].bev)
			bufferevent_free(cs[i].bev);
	}
	free(cs);
	if (failed || left)
		return 1;
	printf("ok %s %d %zu\n", event_base_get_method(base), nconn, bytes);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "server") && strcmp(argv[1], "client")) ||
	    (!strcmp(argv[1], "client") && argc < 4)) {
		fprintf(stderr, "usage: %s server PORT | client PORT KIB [CONNS]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct event_base *base = event_base_new();
	if (!base) {
		fprintf(stderr, "event_base_new failed\n");
		return 1;
	}
	fprintf(stderr, "method: %s\n", event_base_get_method(base));
	int port = atoi(argv[2]);
	int r = !strcmp(argv[1], "server") ? run_server(base, port)
					   : run_client(base, port, strtoul(argv[3], NULL, 10),
							argc > 4 ? atoi(argv[4]) : 4);
	event_base_free(base);
	return r;
}

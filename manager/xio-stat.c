/* SPDX-License-Identifier: MIT */
/*
 * xio-stat: what a domain's manager knows — connections, bytes, slots,
 * fallbacks by reason — and the domain-wide kill switch. Talks to the
 * control socket only; links nothing but xio_stack.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "proto.h"
#include "rundir.h"
#include "sys.h"

#define REPLY_TIMEOUT_SEC 5
#define CONNS_PER_MSG	  128 /* the manager's batch; we accept any count that fits */

static const char *const fb_names[XIO_FB_MAX] = {
    [XIO_FB_NO_RENDEZVOUS] = "no_rendezvous",
    [XIO_FB_REMOTE] = "remote",
    [XIO_FB_NO_MANAGER] = "no_manager",
    [XIO_FB_DOMAIN_FULL] = "domain_full",
    [XIO_FB_VERSION] = "version",
    [XIO_FB_BACKLOG] = "backlog",
    [XIO_FB_DISABLED] = "disabled",
    [XIO_FB_ERROR] = "error",
    [XIO_FB_PAIR_POLICY] = "pair_policy",
    [XIO_FB_PAIR_UNPROVEN] = "pair_unproven",
};

struct conns_msg {
	struct xio_msg_hdr hdr;
	uint32_t count, more;
	struct xio_ctl_conn rec[CONNS_PER_MSG];
};

struct conn_list {
	struct xio_ctl_conn *v;
	size_t n;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xio-stat [--domain D] [--rundir DIR] [--json] [--conns] [--kill on|off]\n"
		"\n"
		"  --domain D     domain to ask ($XIO_DOMAIN, default \"xio\")\n"
		"  --rundir DIR   run directory ($XIO_RUNDIR, default as xio-manager)\n"
		"  --json         one JSON object on one line\n"
		"  --conns        list open X-IO connections too\n"
		"  --kill on|off  switch X-IO off (new connects use TCP) or on again\n");
}

static int die(const char *fmt, const char *a, const char *b)
{
	fputs("xio-stat: ", stderr);
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return 1;
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = REPLY_TIMEOUT_SEC};
	int fd;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path) >= (int)sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	/* a wedged manager must not wedge us */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Send @req, receive one reply of at least @min bytes. Returns its length or -errno. */
static ssize_t call(int fd, const void *req, size_t len, void *rep, size_t cap, size_t min)
{
	ssize_t n = xio_send_with_fds(fd, req, len, NULL, 0);
	if (n < 0)
		return n;
	n = xio_recv_with_fds(fd, rep, cap, NULL, NULL, 0);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return n;
	int r = xio_msg_check(rep, (size_t)n, XIO_CTL_REPLY, sizeof(struct xio_msg_hdr));
	if (r < 0)
		return r;
	if (((struct xio_msg_hdr *)rep)->status < 0)
		return ((struct xio_msg_hdr *)rep)->status;
	return (size_t)n < min ? -EPROTO : n;
}

static int get_conns(int fd, struct conn_list *out)
{
	static struct conns_msg msg;
	struct xio_msg_hdr req;
	ssize_t n;

	xio_msg_init(&req, XIO_CTL_CONNS, sizeof(req));
	n = xio_send_with_fds(fd, &req, sizeof(req), NULL, 0);
	if (n < 0)
		return (int)n;
	do {
		n = xio_recv_with_fds(fd, &msg, sizeof(msg), NULL, NULL, 0);
		if (n <= 0)
			return n ? (int)n : -ECONNRESET;
		if (xio_msg_check(&msg, (size_t)n, XIO_CTL_REPLY, offsetof(struct conns_msg, rec)) <
		    0)
			return -EPROTO;
		if (msg.hdr.status < 0)
			return msg.hdr.status;
		if (msg.count > CONNS_PER_MSG ||
		    offsetof(struct conns_msg, rec) + msg.count * sizeof(msg.rec[0]) > (size_t)n)
			return -EPROTO;
		void *v = realloc(out->v, (out->n + msg.count + 1) * sizeof(*out->v));
		if (!v)
			return -ENOMEM;
		out->v = v;
		memcpy(out->v + out->n, msg.rec, msg.count * sizeof(msg.rec[0]));
		out->n += msg.count;
	} while (msg.more);
	return 0;
}

static const char *state_name(uint32_t st)
{
	switch (st) {
	case XIO_SLOT_ALLOCATED:
		return "allocated";
	case XIO_SLOT_OFFERED:
		return "offered";
	case XIO_SLOT_ESTABLISHED:
		return "established";
	case XIO_SLOT_PAIRING:
		return "pairing";
	default:
		return "other";
	}
}

static void print_table(const char *domain, const struct xio_ctl_stats *s)
{
	uint64_t total = 0;

	for (int i = 0; i < XIO_FB_MAX; i++)
		total += s->fallback[i];
	printf("domain             %s\n", domain);
	printf("generation         %016" PRIx64 "\n", s->generation);
	printf("memory             %s\n", s->hugepages ? "hugepages" : "ordinary");
	printf("connections open   %" PRIu64 "\n", s->conns_open);
	printf("connections total  %" PRIu64 "\n", s->conns_total);
	printf("bytes carried      %" PRIu64 "\n", s->bytes);
	printf("processes          %" PRIu64 "\n", s->processes);
	printf("slots in use       %" PRIu64 " / %" PRIu64 "\n", s->slots_in_use, s->nslots);
	printf("slots reclaimed    %" PRIu64 "\n", s->slots_reclaimed);
	printf("publishes          %" PRIu64 "\n", s->publishes);
	printf("demoted            %" PRIu64 "\n", s->demoted);
	printf("kill switch        %s\n", s->kill_switch ? "on (X-IO off)" : "off");
	printf("fallbacks to TCP   %" PRIu64 "\n", total);
	for (int i = 0; i < XIO_FB_MAX; i++)
		printf("  %-16s %" PRIu64 "\n", fb_names[i], s->fallback[i]);
}

static void print_conns(const struct conn_list *l)
{
	char c[64], s[64], sl[64], sp[64];

	/* What `ss -tnp` would have shown, from each end: addresses, namespace, pid. */
	printf("\n%-6s %-11s %-22s    %-22s %-22s    %-22s %-12s %-12s %-15s %12s %12s %8s %8s "
	       "%9s\n",
	       "SLOT", "STATE", "CLIENT", "(CLIENT'S PEER)", "SERVER", "(SERVER'S PEER)", "NETNS C",
	       "NETNS S", "PIDS", "BYTES C>S", "BYTES S>C", "FILL C>S", "FILL S>C", "AGE ms");
	for (size_t i = 0; i < l->n; i++) {
		const struct xio_ctl_conn *r = &l->v[i];
		char pids[32];
		xio_ep_format(&r->client, c, sizeof(c));
		xio_ep_format(&r->server, s, sizeof(s));
		xio_ep_format(&r->srv_local, sl, sizeof(sl));
		xio_ep_format(&r->srv_peer, sp, sizeof(sp));
		snprintf(pids, sizeof(pids), "%d>%d", r->client_pid, r->server_pid);
		printf("%-6u %-11s %-22s -> %-22s %-22s <- %-22s %-12" PRIu64 " %-12" PRIu64
		       " %-15s %12" PRIu64 " %12" PRIu64 " %8u %8u %9" PRIu64 "\n",
		       r->slot, state_name(r->state), c, s, sl, sp, r->netns_c, r->netns_s, pids,
		       r->bytes_c2s, r->bytes_s2c, r->fill_c2s, r->fill_s2c, r->age_ms);
	}
	if (!l->n)
		printf("(no open connections)\n");
}

static void print_json(const char *domain, const struct xio_ctl_stats *s, const struct conn_list *l)
{
	uint64_t total = 0;
	char c[64], v[64];

	printf("{\"domain\":\"%s\",\"generation\":\"%016" PRIx64 "\",\"hugepages\":%s,"
	       "\"conns_open\":%" PRIu64 ",\"conns_total\":%" PRIu64 ",\"bytes\":%" PRIu64
	       ",\"processes\":%" PRIu64 ",\"slots\":%" PRIu64 ",\"slots_in_use\":%" PRIu64
	       ",\"slots_reclaimed\":%" PRIu64 ",\"publishes\":%" PRIu64 ",\"demoted\":%" PRIu64
	       ",\"kill_switch\":%s,\"fallback\":{",
	       domain, s->generation, s->hugepages ? "true" : "false", s->conns_open,
	       s->conns_total, s->bytes, s->processes, s->nslots, s->slots_in_use,
	       s->slots_reclaimed, s->publishes, s->demoted, s->kill_switch ? "true" : "false");
	for (int i = 0; i < XIO_FB_MAX; i++) {
		total += s->fallback[i];
		printf("%s\"%s\":%" PRIu64, i ? "," : "", fb_names[i], s->fallback[i]);
	}
	printf("},\"fallback_total\":%" PRIu64, total);
	if (l) {
		printf(",\"conns\":[");
		for (size_t i = 0; i < l->n; i++) {
			const struct xio_ctl_conn *r = &l->v[i];
			/* endpoints are digits, dots, colons and brackets: no escaping needed */
			char sl[64], sp[64];
			xio_ep_format(&r->client, c, sizeof(c));
			xio_ep_format(&r->server, v, sizeof(v));
			xio_ep_format(&r->srv_local, sl, sizeof(sl));
			xio_ep_format(&r->srv_peer, sp, sizeof(sp));
			printf(
			    "%s{\"slot\":%u,\"state\":\"%s\",\"client\":\"%s\",\"server\":\"%s\","
			    "\"server_local\":\"%s\",\"server_peer\":\"%s\",\"netns_client\":"
			    "%" PRIu64 ",\"netns_server\":%" PRIu64 ",\"age_ms\":%" PRIu64 ","
			    "\"client_pid\":%d,\"server_pid\":%d,\"bytes_c2s\":%" PRIu64
			    ",\"bytes_s2c\":%" PRIu64 ",\"fill_c2s\":%u,\"fill_s2c\":%u}",
			    i ? "," : "", r->slot, state_name(r->state), c, v, sl, sp, r->netns_c,
			    r->netns_s, r->age_ms, r->client_pid, r->server_pid, r->bytes_c2s,
			    r->bytes_s2c, r->fill_c2s, r->fill_s2c);
		}
		printf("]");
	}
	printf("}\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"domain", required_argument, NULL, 'd'},
	    {"rundir", required_argument, NULL, 'r'},
	    {"json", no_argument, NULL, 'j'},
	    {"conns", no_argument, NULL, 'c'},
	    {"kill", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *domain = xio_default_domain(), *rundir = NULL;
	char dirbuf[PATH_MAX], path[PATH_MAX];
	bool json = false, conns = false;
	int kill = -1, opt, fd;
	struct xio_ctl_stats st;
	struct conn_list list = {0};
	ssize_t n;

	xio_sys_use_libc();
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			domain = optarg;
			break;
		case 'r':
			rundir = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'c':
			conns = true;
			break;
		case 'k':
			if (!strcmp(optarg, "on"))
				kill = 1;
			else if (!strcmp(optarg, "off"))
				kill = 0;
			else
				return die("--kill wants on or off, not '%s'%s", optarg, ""), 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (!xio_domain_name_ok(domain))
		return die("bad domain name '%s'%s", domain, ""), 2;
	if (!rundir) {
		if (xio_default_rundir(domain, dirbuf, sizeof(dirbuf)) < 0)
			return die("run directory too long%s%s", "", "");
		rundir = dirbuf;
	}
	if (snprintf(path, sizeof(path), "%s/%s/control", rundir, domain) >= (int)sizeof(path))
		return die("run directory too long: %s%s", rundir, "");

	fd = ctl_connect(path);
	if (fd < 0) {
		fprintf(stderr, "xio-stat: no manager for domain '%s' (%s: %s)\n", domain, path,
			strerror(-fd));
		return 1;
	}
	if (kill >= 0) {
		struct {
			struct xio_msg_hdr hdr;
			uint32_t on;
		} req = {.on = (uint32_t)kill};
		struct xio_msg_hdr rep;
		xio_msg_init(&req.hdr, XIO_CTL_KILL, sizeof(req));
		n = call(fd, &req, sizeof(req), &rep, sizeof(rep), sizeof(rep));
		if (n < 0)
			return die("kill switch: %s%s", strerror((int)-n), "");
	}
	struct xio_msg_hdr req;
	xio_msg_init(&req, XIO_CTL_STATS, sizeof(req));
	n = call(fd, &req, sizeof(req), &st, sizeof(st), sizeof(st));
	if (n < 0)
		return die("stats from %s: %s", path, strerror((int)-n));
	if (conns) {
		int r = get_conns(fd, &list);
		if (r < 0)
			return die("connections from %s: %s", path, strerror(-r));
	}
	close(fd);

	if (json) {
		print_json(domain, &st, conns ? &list : NULL);
	} else {
		print_table(domain, &st);
		if (conns)
			print_conns(&list);
	}
	free(list.v);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * xio-stat: what a domain's manager knows — connections, bytes, slots,
 * fallbacks by reason — and the domain-wide kill switch. Talks to the
 * control socket only; links nothing but xio_stack. Prints a table, one JSON
 * line (--json) or one Prometheus scrape (--prometheus); the reasons come
 * from the one list in stack/layout.h.
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
	fprintf(f, "usage: xio-stat [--domain D] [--rundir DIR] [--json|--prometheus] [--conns]\n"
		   "                [--kill on|off]\n"
		   "\n"
		   "  --domain D     domain to ask ($XIO_DOMAIN, default \"xio\")\n"
		   "  --rundir DIR   run directory ($XIO_RUNDIR, default as xio-manager)\n"
		   "  --json         one JSON object on one line\n"
		   "  --prometheus   every counter in the Prometheus text format (one scrape);\n"
		   "                 without a manager: xio_up 0 and exit status 0\n"
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

static uint64_t fallback_sum(const struct xio_ctl_stats *s, const char *side)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < XIO_FB_MAX; i++)
		if (!side || !strcmp(xio_fallback_side(i), side))
			n += s->fallback[i];
	return n;
}

static void print_table(const char *domain, const struct xio_ctl_stats *s)
{
	printf("domain             %s\n", domain);
	printf("generation         %016" PRIx64 "\n", s->generation);
	printf("memory             %" PRIu64 " MiB in use, %" PRIu64 " MiB reserved, limit %" PRIu64
	       " MiB\n",
	       (s->memory_bytes + s->rings_in_use) >> 20, s->memory_bytes >> 20,
	       (s->memory_bytes + s->rings_limit) >> 20);
	printf("  slots, buffers   %" PRIu64 " MiB reserved (%s)\n", s->memory_bytes >> 20,
	       s->hugepages ? "hugepages" : "ordinary");
	printf("  rings            %" PRIu64 " MiB in use, limit %" PRIu64 " MiB (sparse file)\n",
	       s->rings_in_use >> 20, s->rings_limit >> 20);
	printf("connections open   %" PRIu64 "\n", s->conns_open);
	printf("connections total  %" PRIu64 "\n", s->conns_total);
	printf("bytes carried      %" PRIu64 "\n", s->bytes);
	printf("processes          %" PRIu64 "\n", s->processes);
	printf("slots in use       %" PRIu64 " / %" PRIu64 " (rings of %" PRIu64 " KiB)\n",
	       s->slots_in_use, s->nslots, s->ring_bytes >> 10);
	printf("slots reclaimed    %" PRIu64 "\n", s->slots_reclaimed);
	printf("buffers in use     %" PRIu64 " / %" PRIu64 " (of %" PRIu64 " KiB)\n",
	       s->bufs_in_use, s->nbufs, s->buf_bytes >> 10);
	printf("buffers reclaimed  %" PRIu64 "\n", s->bufs_reclaimed);
	printf("publishes          %" PRIu64 "\n", s->publishes);
	printf("demoted            %" PRIu64 "\n", s->demoted);
	printf("kill switch        %s\n", s->kill_switch ? "on (X-IO off)" : "off");
	printf("fallbacks to TCP   %" PRIu64 "\n", fallback_sum(s, NULL));
	printf("  connects         %" PRIu64 "\n", fallback_sum(s, "client"));
	for (unsigned i = 0; i < XIO_FB_MAX; i++)
		if (!strcmp(xio_fallback_side(i), "client"))
			printf("    %-25s %" PRIu64 "\n", xio_fallback_name(i), s->fallback[i]);
	printf("  listeners        %" PRIu64 "\n", fallback_sum(s, "server"));
	for (unsigned i = 0; i < XIO_FB_MAX; i++)
		if (!strcmp(xio_fallback_side(i), "server"))
			printf("    %-25s %" PRIu64 "\n", xio_fallback_name(i), s->fallback[i]);
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
	char c[64], v[64];

	printf(
	    "{\"domain\":\"%s\",\"generation\":\"%016" PRIx64 "\",\"hugepages\":%s,"
	    "\"conns_open\":%" PRIu64 ",\"conns_total\":%" PRIu64 ",\"bytes\":%" PRIu64
	    ",\"processes\":%" PRIu64 ",\"slots\":%" PRIu64 ",\"slots_in_use\":%" PRIu64
	    ",\"slots_reclaimed\":%" PRIu64 ",\"publishes\":%" PRIu64 ",\"demoted\":%" PRIu64
	    ",\"kill_switch\":%s,\"memory_bytes\":%" PRIu64 ",\"ring_bytes\":%" PRIu64
	    ",\"bufs\":%" PRIu64 ",\"buf_bytes\":%" PRIu64 ",\"bufs_in_use\":%" PRIu64
	    ",\"bufs_reclaimed\":%" PRIu64 ",\"rings_in_use\":%" PRIu64 ",\"rings_limit\":%" PRIu64
	    ",\"memory_in_use\":%" PRIu64 ",\"memory_limit\":%" PRIu64 ",\"fallback\":{",
	    domain, s->generation, s->hugepages ? "true" : "false", s->conns_open, s->conns_total,
	    s->bytes, s->processes, s->nslots, s->slots_in_use, s->slots_reclaimed, s->publishes,
	    s->demoted, s->kill_switch ? "true" : "false", s->memory_bytes, s->ring_bytes, s->nbufs,
	    s->buf_bytes, s->bufs_in_use, s->bufs_reclaimed, s->rings_in_use, s->rings_limit,
	    s->memory_bytes + s->rings_in_use, s->memory_bytes + s->rings_limit);
	for (unsigned i = 0; i < XIO_FB_MAX; i++)
		printf("%s\"%s\":%" PRIu64, i ? "," : "", xio_fallback_name(i), s->fallback[i]);
	printf("},\"fallback_total\":%" PRIu64 ",\"fallback_connects\":%" PRIu64
	       ",\"fallback_listeners\":%" PRIu64,
	       fallback_sum(s, NULL), fallback_sum(s, "client"), fallback_sum(s, "server"));
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

/* One sample of a metric family, with its HELP and TYPE lines. */
static void prom_metric(const char *name, const char *type, const char *help, const char *domain,
			uint64_t value)
{
	printf("# HELP %s %s\n# TYPE %s %s\n%s{domain=\"%s\"} %" PRIu64 "\n", name, help, name,
	       type, name, domain, value);
}

/*
 * The Prometheus text exposition format (version 0.0.4), one scrape. Domain
 * names are letters, digits, '_', '-' and '.' (xio_domain_name_ok): label
 * values need no escaping. Without stats (@s NULL) only xio_up 0.
 */
static void print_prometheus(const char *domain, const struct xio_ctl_stats *s)
{
	prom_metric("xio_up", "gauge",
		    "Whether xio-stat reached the domain's manager (1) or not (0).", domain, !!s);
	if (!s)
		return;
	printf("# HELP xio_info The domain's manager: generation (random per start) and memory.\n"
	       "# TYPE xio_info gauge\n"
	       "xio_info{domain=\"%s\",generation=\"%016" PRIx64 "\",memory=\"%s\"} 1\n",
	       domain, s->generation, s->hugepages ? "hugepages" : "ordinary");
	prom_metric("xio_connections_open", "gauge", "X-IO connections open now.", domain,
		    s->conns_open);
	prom_metric("xio_connections_opened_total", "counter",
		    "X-IO connections accepted since the manager started.", domain, s->conns_total);
	prom_metric("xio_bytes_total", "counter",
		    "Bytes carried by X-IO connections, both directions, open and closed.", domain,
		    s->bytes);
	prom_metric("xio_processes", "gauge", "Processes attached to the domain.", domain,
		    s->processes);
	prom_metric("xio_memory_bytes", "gauge", "Shared memory the domain reserved, bytes.",
		    domain, s->memory_bytes);
	prom_metric(
	    "xio_memory_in_use_bytes", "gauge",
	    "Shared memory in use: the reserved memory plus the ring pages backed now, bytes.",
	    domain, s->memory_bytes + s->rings_in_use);
	prom_metric("xio_memory_limit_bytes", "gauge",
		    "Shared memory the domain can come to: reserved plus every ring full, bytes.",
		    domain, s->memory_bytes + s->rings_limit);
	prom_metric("xio_ring_memory_bytes", "gauge",
		    "Ring memory in use: pages of the ring file backed now, bytes.", domain,
		    s->rings_in_use);
	prom_metric("xio_ring_memory_limit_bytes", "gauge",
		    "Ring memory if every ring of every slot were full, bytes.", domain,
		    s->rings_limit);
	prom_metric("xio_slots", "gauge", "Connection slots reserved (one connection each).",
		    domain, s->nslots);
	prom_metric("xio_slots_in_use", "gauge", "Connection slots in use.", domain,
		    s->slots_in_use);
	prom_metric("xio_slot_ring_bytes", "gauge",
		    "Data capacity of each of a slot's two rings, bytes.", domain, s->ring_bytes);
	prom_metric("xio_slots_reclaimed_total", "counter",
		    "Slots of dead processes freed by the manager's sweep.", domain,
		    s->slots_reclaimed);
	prom_metric("xio_buffers", "gauge", "Zero-copy buffers reserved.", domain, s->nbufs);
	prom_metric("xio_buffers_in_use", "gauge", "Zero-copy buffers held or in flight.", domain,
		    s->bufs_in_use);
	prom_metric("xio_buffer_bytes", "gauge", "Size of one zero-copy buffer, bytes.", domain,
		    s->buf_bytes);
	prom_metric("xio_buffers_reclaimed_total", "counter",
		    "Zero-copy buffers of dead processes freed by the manager's sweep.", domain,
		    s->bufs_reclaimed);
	prom_metric("xio_publishes_total", "counter", "Listeners published (rendezvous entries).",
		    domain, s->publishes);
	prom_metric(
	    "xio_demoted_total", "counter",
	    "X-IO connections turned into plain byte streams (fd passed to a program without "
	    "X-IO).",
	    domain, s->demoted);
	prom_metric("xio_kill_switch", "gauge",
		    "1 while the kill switch is on (new connects use TCP).", domain,
		    s->kill_switch);
	printf("# HELP xio_fallbacks_total Connects (side=\"client\") and listeners "
	       "(side=\"server\") X-IO declined: kernel TCP was used, by reason.\n"
	       "# TYPE xio_fallbacks_total counter\n");
	for (unsigned i = 0; i < XIO_FB_MAX; i++)
		printf("xio_fallbacks_total{domain=\"%s\",side=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
		       domain, xio_fallback_side(i), xio_fallback_name(i), s->fallback[i]);
}

/*
 * Stats from @fd into @st. Returns 0, -errno, or 1 after saying on stderr
 * that the manager is of another build (another layout or reason list).
 */
static int get_stats(int fd, const char *domain, struct xio_ctl_stats *st)
{
	static union {
		struct xio_ctl_stats st;
		char raw[4096]; /* a manager of another build may send more */
	} rep;
	struct xio_msg_hdr req;

	xio_msg_init(&req, XIO_CTL_STATS, sizeof(req));
	ssize_t n = call(fd, &req, sizeof(req), &rep, sizeof(rep),
			 offsetof(struct xio_ctl_stats, generation));
	if (n < 0)
		return (int)n;
	if ((size_t)n != sizeof(*st) || rep.st.layout_version != XIO_LAYOUT_VERSION ||
	    rep.st.nreasons != XIO_FB_MAX) {
		fprintf(
		    stderr,
		    "xio-stat: the manager of domain '%s' is from another build (stats of %zd "
		    "bytes, layout %u, %u reasons; this xio-stat wants %zu bytes, layout %u, %u "
		    "reasons): use the xio-stat installed with that xio-manager\n",
		    domain, n, rep.st.layout_version, rep.st.nreasons, sizeof(*st),
		    XIO_LAYOUT_VERSION, (unsigned)XIO_FB_MAX);
		return 1;
	}
	*st = rep.st;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"domain", required_argument, NULL, 'd'}, {"rundir", required_argument, NULL, 'r'},
	    {"json", no_argument, NULL, 'j'},	      {"prometheus", no_argument, NULL, 'p'},
	    {"conns", no_argument, NULL, 'c'},	      {"kill", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	const char *domain = xio_default_domain(), *rundir = NULL;
	char dirbuf[PATH_MAX], path[PATH_MAX];
	bool json = false, conns = false, prom = false;
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
		case 'p':
			prom = true;
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
	if (optind < argc || (prom && (json || conns))) {
		if (prom && (json || conns))
			fputs("xio-stat: --prometheus goes alone (not with --json or --conns)\n",
			      stderr);
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
		if (!prom)
			return 1;
		/* a scrape must not fail: the manager being down is a value, xio_up 0 */
		print_prometheus(domain, NULL);
		return fflush(stdout) == 0 ? 0 : 1;
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
	int r = get_stats(fd, domain, &st);
	if (r < 0)
		fprintf(stderr, "xio-stat: stats from %s: %s\n", path, strerror(-r));
	if (r && prom) {
		print_prometheus(domain,
				 NULL); /* down as far as a scrape can tell; stderr says why */
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (r)
		return 1;
	if (conns) {
		int r = get_conns(fd, &list);
		if (r < 0)
			return die("connections from %s: %s", path, strerror(-r));
	}
	close(fd);

	if (prom) {
		print_prometheus(domain, &st);
	} else if (json) {
		print_json(domain, &st, conns ? &list : NULL);
	} else {
		print_table(domain, &st);
		if (conns)
			print_conns(&list);
	}
	free(list.v);
	return fflush(stdout) == 0 ? 0 : 1;
}

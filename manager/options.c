/* SPDX-License-Identifier: MIT */
/* Command line of xio-manager. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager.h"
#include "ring.h"

#define MAX_SLOTS   1048576u
#define MAX_RING_KB 65536u /* 64 MiB per direction */
#define MAX_BUFS    1048576u
#define MAX_BUF_KB  65536u

/* A record's length element keeps its top two bits for flags (stack/ring.h). */
_Static_assert((uint64_t)MAX_RING_KB * 1024 < XIO_REC_PAD &&
		   (uint64_t)MAX_BUF_KB * 1024 < XIO_REC_PAD,
	       "a ring or buffer this large has lengths that reach XIO_REC_PAD's bit");

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: xio-manager [--domain NAME] [--rundir DIR] [--max-conns N] [--ring-kb K]\n"
	    "                   [--hold-ports N]\n"
	    "                   [--bufs N] [--buf-kb K] [--group GROUP] [--foreground|--daemon]\n"
	    "                   [--hugepages auto|yes|no] [-v] [--help] [--version]\n"
	    "\n"
	    "  --domain NAME     domain to serve ($XIO_DOMAIN, default \"xio\")\n"
	    "  --rundir DIR      run directory ($XIO_RUNDIR, default /run/xio; without\n"
	    "                    root: $XDG_RUNTIME_DIR/xio or /tmp/xio-$UID)\n"
	    "  --max-conns N     connection slots: concurrent X-IO connections (default\n"
	    "                    16384); beyond, connections use kernel TCP (said once)\n"
	    "  --hold-ports N    client ports held for the first N slots (default 1024,\n"
	    "                    at most an eighth of the ephemeral range); 0: none\n"
	    "  --slots N         the same as --max-conns\n"
	    "  --ring-kb K       ring capacity per direction, power of two >= 4 (default 1024)\n"
	    "  --bufs N          zero-copy buffers for xio_malloc, see xio(3); 0: none (default "
	    "512)\n"
	    "  --buf-kb K        size of each zero-copy buffer in KiB (default 64)\n"
	    "  --group GROUP     members of GROUP may join the domain\n"
	    "  --service-cidr C  virtual addresses DNATed to pods (Kubernetes Services); "
	    "repeatable\n"
	    "  --foreground      stay in the foreground (default)\n"
	    "  --daemon          detach once the control socket is ready\n"
	    "  --hugepages MODE  auto (default), yes (fail without), no\n"
	    "  -v, --verbose     print a summary line on start\n");
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* "10.96.0.0/12" or "fd00::/108" into the next --service-cidr entry. */
static int parse_cidr(const char *arg, struct mgr_opts *o)
{
	char a[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(arg, '/');
	uint32_t bits;
	uint8_t *dst = o->svc[o->nsvc].addr;

	if (!slash || (size_t)(slash - arg) >= sizeof(a))
		return -EINVAL;
	memcpy(a, arg, (size_t)(slash - arg));
	a[slash - arg] = 0;
	memset(dst, 0, 16);
	if (inet_pton(AF_INET, a, dst + 12) == 1) {
		dst[10] = dst[11] = 0xff;
		if (parse_u32(slash + 1, 0, 32, &bits) < 0)
			return -EINVAL;
		bits += 96;
	} else if (inet_pton(AF_INET6, a, dst) == 1) {
		if (parse_u32(slash + 1, 0, 128, &bits) < 0)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	o->svc[o->nsvc++].prefix = (uint8_t)bits;
	return 0;
}

static int parse_group(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	char buf[4096];
	uint32_t v;

	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) == 0 && res) {
		*gid = res->gr_gid;
		return 0;
	}
	if (parse_u32(name, 0, UINT32_MAX - 1, &v) == 0) {
		*gid = (gid_t)v;
		return 0;
	}
	return -ENOENT;
}

static int bad(const char *fmt, const char *arg)
{
	fputs("xio-manager: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n", stderr);
	return -EINVAL;
}

int mgr_parse_args(struct mgr_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"domain", required_argument, NULL, 'd'},
	    {"rundir", required_argument, NULL, 'r'},
	    {"slots", required_argument, NULL, 's'},
	    {"hold-ports", required_argument, NULL, 'P'},
	    {"max-conns", required_argument, NULL, 's'},
	    {"service-cidr", required_argument, NULL, 'S'},
	    {"ring-kb", required_argument, NULL, 'k'},
	    {"group", required_argument, NULL, 'g'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"daemon", no_argument, NULL, 'D'},
	    {"hugepages", required_argument, NULL, 'H'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"bufs", required_argument, NULL, 'b'},
	    {"buf-kb", required_argument, NULL, 'B'},
	    {NULL, 0, NULL, 0},
	};
	const char *domain = xio_default_domain();
	const char *rundir = NULL;
	uint32_t kb = 1024;   /* measured: 256 KiB rings fill and empty too often (RESULTS.md) */
	uint32_t buf_kb = 64; /* the largest message of benchmarks/zc_pingpong.c */
	int c;

	*o = (struct mgr_opts){.nslots = 16384,
			       .hold_ports = 1024,
			       .nbufs = 512,
			       .gid = (gid_t)-1,
			       .hugepages = MGR_HP_AUTO};
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			domain = optarg;
			break;
		case 'r':
			rundir = optarg;
			break;
		case 's':
			if (parse_u32(optarg, 1, MAX_SLOTS, &o->nslots) < 0)
				return bad("--max-conns wants 1..1048576, not '%s'", optarg);
			break;
		case 'P':
			if (parse_u32(optarg, 0, MAX_SLOTS, &o->hold_ports) < 0)
				return bad("--hold-ports wants 0..1048576, not '%s'", optarg);
			break;
		case 'k':
			if (parse_u32(optarg, 4, MAX_RING_KB, &kb) < 0 || (kb & (kb - 1)))
				return bad("--ring-kb wants a power of two in 4..65536, not '%s'",
					   optarg);
			break;
		case 'b':
			if (parse_u32(optarg, 0, MAX_BUFS, &o->nbufs) < 0)
				return bad("--bufs wants 0..1048576, not '%s'", optarg);
			break;
		case 'B':
			if (parse_u32(optarg, 1, MAX_BUF_KB, &buf_kb) < 0)
				return bad("--buf-kb wants 1..65536, not '%s'", optarg);
			break;
		case 'S':
			if (o->nsvc == XIO_SVC_MAX || parse_cidr(optarg, o) < 0)
				return bad(
				    "--service-cidr wants an address/prefix (at most 4), not '%s'",
				    optarg);
			break;
		case 'g':
			if (parse_group(optarg, &o->gid) < 0)
				return bad("no group '%s'", optarg);
			break;
		case 'f':
			o->daemon = false;
			break;
		case 'D':
			o->daemon = true;
			break;
		case 'H':
			if (!strcmp(optarg, "auto"))
				o->hugepages = MGR_HP_AUTO;
			else if (!strcmp(optarg, "yes"))
				o->hugepages = MGR_HP_YES;
			else if (!strcmp(optarg, "no"))
				o->hugepages = MGR_HP_NO;
			else
				return bad("--hugepages wants auto, yes or no, not '%s'", optarg);
			break;
		case 'v':
			o->verbose++;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("xio-manager %s (layout %u, protocol %u)\n", XIO_VERSION,
			       XIO_LAYOUT_VERSION, XIO_PROTO_VERSION);
			return 1;
		default:
			bad("unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%s' (see --help)", argv[optind]);
	if (!xio_domain_name_ok(domain))
		return bad("bad domain name '%s' (want " XIO_DOMAIN_RULE ")", domain);
	snprintf(o->domain, sizeof(o->domain), "%s", domain);
	o->ring_bytes = kb * 1024;
	o->buf_size = buf_kb * 1024;
	if ((uint64_t)o->nbufs * o->buf_size > (64ull << 30))
		return bad("--bufs x --buf-kb is more than 64 GiB%s", "");
	if (rundir) {
		if (!*rundir ||
		    snprintf(o->rundir, sizeof(o->rundir), "%s", rundir) >= (int)sizeof(o->rundir))
			return bad("bad run directory '%s'", rundir);
	} else if (xio_default_rundir(o->domain, o->rundir, sizeof(o->rundir)) < 0) {
		return bad("default run directory too long%s", "");
	}
	return 0;
}

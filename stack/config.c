/* SPDX-License-Identifier: MIT */
/* Configuration from XIO_* variables (secure_getenv: ignored in setuid programs). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stack.h"

static struct xio_config config;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static bool env_flag(const char *name)
{
	const char *v = secure_getenv(name);
	return v && *v && strcmp(v, "0") != 0;
}

/* Decimal in 0..@max, or -1 when absent or malformed (then the default applies). */
static long env_ulong(const char *name, long max)
{
	const char *v = secure_getenv(name);
	char *end;
	if (!v || !*v)
		return -1;
	long n = strtol(v, &end, 10);
	if (*end || n < 0 || n > max)
		return -1;
	return n;
}

static int env_uint(const char *name)
{
	return (int)env_ulong(name, 1000000);
}

bool xio_domain_name_ok(const char *d)
{
	size_t n = strlen(d);

	if (n < 1 || n > XIO_DOMAIN_MAX || !strcmp(d, ".") || !strcmp(d, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = d[i];
		/* ASCII ranges, not isalnum(): the rule must not depend on the locale */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static void config_load(void)
{
	const char *v;

	config.disabled = env_flag("XIO_DISABLE");
	config.no_fallback = env_flag("XIO_NO_FALLBACK");
	config.spin_us = env_uint("XIO_SPIN_US");
	config.spin_adapt_us = env_uint("XIO_SPIN_ADAPT_US");
	config.pair_wait_us = env_ulong("XIO_PAIR_WAIT_US", 10000000);
	config.pair_spin_us = env_uint("XIO_PAIR_SPIN_US");
	config.log = env_uint("XIO_LOG");
	if (config.log < 0)
		config.log = env_flag("XIO_LOG") ? 1 : 0;
	/* Messages below only with XIO_LOG: the shim never prints into a program's stderr
	 * otherwise. */
	v = secure_getenv("XIO_SPIN_US");
	if (v && *v && config.spin_us < 0 && config.log)
		xio_log_unchecked(
		    "XIO_SPIN_US='%s' is not a number of microseconds: using the default", v);
	v = secure_getenv("XIO_SPIN_ADAPT_US");
	if (v && *v && config.spin_adapt_us < 0 && config.log)
		xio_log_unchecked(
		    "XIO_SPIN_ADAPT_US='%s' is not a number of microseconds: using the default", v);
	v = secure_getenv("XIO_PAIR_SPIN_US");
	if (v && *v && config.pair_spin_us < 0 && config.log)
		xio_log_unchecked(
		    "XIO_PAIR_SPIN_US='%s' is not a number of microseconds: using the default", v);
	v = secure_getenv("XIO_DOMAIN");
	snprintf(config.domain, sizeof(config.domain), "%s", v && *v ? v : XIO_DEFAULT_DOMAIN);
	if (!xio_domain_name_ok(config.domain)) {
		/* A bad name can never have a manager: use TCP. */
		config.disabled = true;
		if (config.log)
			xio_log_unchecked("XIO_DOMAIN='%s' is not a domain name (" XIO_DOMAIN_RULE
					  "): using kernel TCP",
					  v);
	}
	if (xio_default_rundir(config.domain, config.rundir, sizeof(config.rundir)) < 0)
		config.disabled = true; /* no usable run directory: plain TCP */
}

int xio_default_rundir(const char *domain, char *buf, size_t len)
{
	const char *v = secure_getenv("XIO_RUNDIR");
	char ctl[256];
	int n;

	if (v && *v)
		n = snprintf(buf, len, "%s", v);
	else if (geteuid() == 0 || faccessat(AT_FDCWD, "/run/xio", W_OK | X_OK, AT_EACCESS) == 0)
		n = snprintf(buf, len, "/run/xio");
	else if (snprintf(ctl, sizeof(ctl), "/run/xio/%s/control", domain) < (int)sizeof(ctl) &&
		 faccessat(AT_FDCWD, ctl, W_OK, AT_EACCESS) == 0)
		n = snprintf(buf, len, "/run/xio"); /* a root manager shared with --group */
	else if ((v = secure_getenv("XDG_RUNTIME_DIR")) && v[0] == '/')
		n = snprintf(buf, len, "%s/xio", v);
	else
		n = snprintf(buf, len, "/tmp/xio-%u", (unsigned)geteuid());
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

const struct xio_config *xio_config(void)
{
	pthread_once(&config_once, config_load);
	return &config;
}

void xio_config_disable(void)
{
	pthread_once(&config_once, config_load);
	config.disabled = true;
}

static int spin_default;
static pthread_once_t spin_once = PTHREAD_ONCE_INIT;

static void spin_init(void)
{
	int v = xio_config()->spin_us;
	/*
	 * Default from benchmarks/RESULTS.md: a cross-CPU wake-up costs ~40 us on
	 * this VM, a spin of 20 us catches most request/response turns. On a
	 * one-CPU machine spinning only delays the peer. A process pinned to one
	 * CPU may still talk to a peer on another: sharing is judged per
	 * connection (xio_conn_spin_us).
	 */
	spin_default = v >= 0 ? v : (sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 20 : 0);
}

int xio_spin_us(void)
{
	pthread_once(&spin_once, spin_init); /* computed once, published to every thread (F15) */
	return spin_default;
}

int xio_spin_adapt_cap_us(void)
{
	/*
	 * 200 us: longer than the gap between two 64 KiB messages of a service
	 * chain on the 2-core VM (benchmarks/RESULTS.md), and short enough that
	 * a connection whose data stops costs one such spin, once.
	 */
	int v = xio_config()->spin_adapt_us;
	return v >= 0 ? v : 200;
}

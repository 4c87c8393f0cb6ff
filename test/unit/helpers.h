/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by the unit tests: building endpoints from text,
 * counting open descriptors (to prove nothing leaked) and running a suite.
 * Everything is static inline so each test stays one standalone program.
 */
#ifndef XIO_TEST_HELPERS_H
#define XIO_TEST_HELPERS_H

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

/*
 * An endpoint from text. "1.2.3.4" gives an AF_INET endpoint (v4-mapped
 * inside, as the stack keeps it); anything else is parsed as IPv6, so
 * "::ffff:1.2.3.4" gives the same address with family AF_INET6.
 */
static inline struct xio_endpoint xt_ep(const char *ip, uint16_t port)
{
	struct xio_endpoint ep;
	struct in_addr a4;

	memset(&ep, 0, sizeof(ep));
	ep.port = port;
	if (inet_pton(AF_INET, ip, &a4) == 1) {
		ep.addr[10] = 0xff;
		ep.addr[11] = 0xff;
		memcpy(ep.addr + 12, &a4, 4);
		ep.family = AF_INET;
	} else {
		ck_assert_msg(inet_pton(AF_INET6, ip, ep.addr) == 1, "bad test address %s", ip);
		ep.family = AF_INET6;
	}
	return ep;
}

/* Open descriptors of this process, for leak checks around a call. */
static inline int xt_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* Run @s (each test in its own child, so a crash fails one test) and map to an exit code. */
static inline int xt_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Proves the nginx privilege model: a root master opens a listener and
 * forks a worker that drops to nobody (setgroups, setgid, setuid 65534)
 * before it accepts; the worker's accepted connection is X-IO and carries
 * data both ways; a connection the unprivileged worker opens itself to a
 * listener of the master (an upstream) works too — X-IO when the domain
 * admits the worker's group (xio-manager --group), else silently kernel TCP
 * (docs/DESIGN.md, "Rendezvous and trust"). Skipped (77) when not run as root.
 */
#include <grp.h>

#include "helpers.h"

int main(void)
{
	uint16_t port, up_port;
	char buf[16];

	if (geteuid() != 0) {
		printf("fork_privdrop: skipped, needs root\n");
		return 77;
	}
	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	int l = listen_lo(&port);
	int up = listen_lo(&up_port);

	pid_t pid = fork_child();
	if (pid == 0) {
		OK(setgroups(0, NULL));
		OK(setgid(65534));
		OK(setuid(65534));
		CHECK_EQ(getuid(), 65534);
		int s = OK(accept(l, NULL, NULL));
		require_xio(s);
		read_all(s, buf, 4);
		CHECK(memcmp(buf, "req1", 4) == 0);
		/* The worker calls an upstream the master serves. */
		int u = connect_lo(up_port);
		char dom[512];
		snprintf(dom, sizeof(dom), "%s/%s/rv",
			 getenv("XIO_RUNDIR") ? getenv("XIO_RUNDIR") : "",
			 getenv("XIO_DOMAIN") ? getenv("XIO_DOMAIN") : "");
		if (access(dom, R_OK | X_OK) == 0)
			require_xio(u);
		else
			CHECK(fd_kind(u) <= 0); /* outside the domain's trust zone: TCP */
		write_all(u, "up", 2);
		read_all(u, buf, 2);
		CHECK(memcmp(buf, "ok", 2) == 0);
		close(u);
		write_all(s, "rep1", 4);
		close(s);
		_exit(0);
	}
	int c = connect_lo(port);
	require_xio(c);
	write_all(c, "req1", 4);
	int us = OK(accept(up, NULL, NULL));
	read_all(us, buf, 2);
	CHECK(memcmp(buf, "up", 2) == 0);
	write_all(us, "ok", 2);
	read_all(c, buf, 4);
	CHECK(memcmp(buf, "rep1", 4) == 0);
	wait_ok(pid);
	close(us);
	close(c);
	close(up);
	close(l);
	printf("fork_privdrop: ok\n");
	return 0;
}

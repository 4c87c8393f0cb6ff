/* SPDX-License-Identifier: MIT */
/*
 * Domain names and the default run directory, shared by xio-manager and
 * xio-stat. Header-only because xio-stat links nothing but xio_stack.
 *
 * Default run directory, first match wins:
 *   1. $XIO_RUNDIR (secure_getenv), if set and not empty;
 *   2. /run/xio when running as root;
 *   3. /run/xio when we may write there, or when /run/xio/<domain>/control
 *      exists and we may connect to it (a system manager started with
 *      --group that we are allowed to join);
 *   4. $XDG_RUNTIME_DIR/xio when $XDG_RUNTIME_DIR is an absolute path;
 *   5. /tmp/xio-<euid>.
 * The shim only reads $XIO_RUNDIR (default /run/xio), so xio-run passes the
 * result of this function to its children explicitly.
 */
#ifndef XIO_MANAGER_RUNDIR_H
#define XIO_MANAGER_RUNDIR_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XIO_DOMAIN_MAX	   32
#define XIO_DEFAULT_DOMAIN "xio"
#define XIO_SYSTEM_RUNDIR  "/run/xio"

/* [A-Za-z0-9_.-]{1,32}; "." and ".." are refused as they name directories. */
static inline bool xio_domain_name_ok(const char *d)
{
	size_t n = strlen(d);

	if (n < 1 || n > XIO_DOMAIN_MAX || !strcmp(d, ".") || !strcmp(d, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = d[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* $XIO_DOMAIN or "xio" (not validated: the caller checks every name it uses). */
static inline const char *xio_default_domain(void)
{
	const char *v = secure_getenv("XIO_DOMAIN");
	return v && *v ? v : XIO_DEFAULT_DOMAIN;
}

/* The default run directory: one rule for every program, in the stack (stack.h). */
int xio_default_rundir(const char *domain, char *buf, size_t len);

#endif

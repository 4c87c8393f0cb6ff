/* SPDX-License-Identifier: MIT */
/*
 * The default domain and run directory, shared by xio-manager and xio-stat.
 * Header-only because xio-stat links nothing but xio_stack.
 *
 * Default run directory, first match wins:
 *   1. $XIO_RUNDIR (secure_getenv), if set and not empty;
 *   2. /run/xio when running as root;
 *   3. /run/xio when we may write there, or when /run/xio/<domain>/control
 *      exists and we may connect to it (a system manager started with
 *      --group that we are allowed to join);
 *   4. $XDG_RUNTIME_DIR/xio when $XDG_RUNTIME_DIR is an absolute path;
 *   5. /tmp/xio-<euid>.
 * The shim, xio-run, xio-stat and the manager all apply this one rule
 * (xio_default_rundir); xio-run also passes its result to its children in
 * $XIO_RUNDIR, so that a child whose user differs still finds the domain.
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

#include "stack.h"

#define XIO_SYSTEM_RUNDIR "/run/xio"

/* $XIO_DOMAIN or "xio" (not validated: the caller checks every name it uses). */
static inline const char *xio_default_domain(void)
{
	const char *v = secure_getenv("XIO_DOMAIN");
	return v && *v ? v : XIO_DEFAULT_DOMAIN;
}

/* The domain name rule (xio_domain_name_ok) and the default run directory
 * (xio_default_rundir) are the stack's: one rule for every program (stack.h). */

#endif

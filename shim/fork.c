/* SPDX-License-Identifier: MIT */
/*
 * fork: the child keeps every mapping (MAP_SHARED) and every fd, so its X-IO
 * connections and listeners go on working; only the control connection to
 * the manager is per process and is reopened on demand.
 */
#include <pthread.h>

#include "domain.h"
#include "shim.h"

static void child_after_fork(void)
{
	xio_domain_after_fork_child();
	xio_conns_after_fork_child();
}

static void parent_after_fork(void)
{
	xio_conns_after_fork_parent();
}

__attribute__((constructor)) static void fork_hooks(void)
{
	pthread_atfork(NULL, parent_after_fork, child_after_fork);
}

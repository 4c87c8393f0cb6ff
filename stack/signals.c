/* SPDX-License-Identifier: MIT */
/*
 * EINTR versus restart. A blocking socket call the kernel interrupts for a
 * handler installed with SA_RESTART is restarted (unless the socket has a
 * timeout); poll, epoll and select never are. Our blocking calls wait in
 * poll(), so we decide ourselves. We cannot tell which signal interrupted
 * us: we restart only when every installed handler asked for SA_RESTART,
 * which is exact for programs that use one convention throughout (all of
 * glibc's signal() users, and most others). Checked only after an EINTR.
 */
#include <signal.h>
#include <stdbool.h>

#include "stack.h"

bool xio_signal_restarts(void)
{
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;
		if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) < 0)
			continue;
		bool user = (sa.sa_flags & SA_SIGINFO)
				? sa.sa_sigaction != NULL
				: (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
		if (user && !(sa.sa_flags & SA_RESTART))
			return false;
	}
	return true;
}

/* SPDX-License-Identifier: MIT */
/*
 * Proves: as demote_scm, with the other end of the connection an epoll
 * event loop (one thread, non-blocking, level-triggered) rather than
 * threads blocked in read and write.
 */
#define DEMOTE_EPOLL 1
#include "demote_scm.c"

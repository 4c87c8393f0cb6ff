/* SPDX-License-Identifier: MIT */
/*
 * The one clock of the stack, the shim and the manager: CLOCK_MONOTONIC in
 * ns or us for deadlines, spin limits and ages; and the absolute deadlines
 * that pthread's timed waits want (CLOCK_REALTIME for a mutex, whatever
 * clock a condition variable was made with).
 */
#ifndef XIO_CLOCK_H
#define XIO_CLOCK_H

#include <stdint.h>
#include <time.h>

/*
 * Nanoseconds of CLOCK_MONOTONIC. Signed (it lasts 292 years from boot), so
 * that deadline arithmetic may go below zero and -1 can mean "none".
 */
static inline int64_t xio_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Microseconds of CLOCK_MONOTONIC. */
static inline uint64_t xio_mono_us(void)
{
	return (uint64_t)xio_mono_ns() / 1000u;
}

/* The time @ns nanoseconds from now on clock @clk, as an absolute timespec. */
static inline struct timespec xio_deadline_ts(clockid_t clk, uint64_t ns)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	ns += (uint64_t)ts.tv_nsec;
	ts.tv_sec += (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	return ts;
}

#endif

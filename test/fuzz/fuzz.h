/* SPDX-License-Identifier: MIT */
/* Shared by the fuzz_*.c harnesses. */
#ifndef XIO_FUZZ_H
#define XIO_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

/* Always checked (assert() is compiled out with NDEBUG in RelWithDebInfo builds). */
#define FZ_CHECK(c)                                                                                \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);      \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif

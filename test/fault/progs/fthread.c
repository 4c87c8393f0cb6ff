/* SPDX-License-Identifier: MIT */
/*
 * fthread: can this process start threads with small stacks? Programs do
 * (thread pools, runtimes, servers with thousands of threads); a preloaded
 * library must not make pthread_create fail for them, e.g. by a big static
 * TLS block that every thread's stack has to hold.
 *
 *   fthread KB...   pthread_create with a stack of KB kibibytes each
 * Prints one line per size; exits 1 if any failed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *body(void *arg)
{
	return arg;
}

int main(int argc, char **argv)
{
	int failed = 0;
	for (int i = 1; i < argc; i++) {
		size_t kb = strtoul(argv[i], NULL, 10);
		pthread_attr_t a;
		pthread_t t;
		pthread_attr_init(&a);
		int r = pthread_attr_setstacksize(&a, kb * 1024);
		if (r == 0)
			r = pthread_create(&t, &a, body, NULL);
		if (r == 0)
			pthread_join(t, NULL);
		printf("fthread: stack %zu KiB: %s\n", kb, r ? strerror(r) : "ok");
		failed |= r != 0;
		pthread_attr_destroy(&a);
	}
	return failed;
}

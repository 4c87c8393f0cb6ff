/* SPDX-License-Identifier: MIT */
/*
 * Proves: a connection is a byte stream, not a message queue: one 64 KiB
 * write read back 1 byte at a time, 65536 reads, every byte in place; 1000
 * writes of 7 bytes read back with 4096-byte reads that span many writes (a
 * handful of reads, not one per write); reads of odd sizes (1..97) over
 * writes of other odd sizes; a read larger than everything available
 * returns what there is without waiting for more.
 */
#include <pthread.h>

#include "helpers.h"

static int c, s;

static void *write_64k(void *arg)
{
	(void)arg;
	static char buf[65536];
	pat_fill(buf, sizeof(buf), 0, 9);
	write_all(c, buf, sizeof(buf));
	return NULL;
}

int main(void)
{
	static char buf[65536];

	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);

	/* One write, 65536 one-byte reads. */
	pthread_t t;
	pthread_create(&t, NULL, write_64k, NULL);
	for (uint64_t i = 0; i < 65536; i++) {
		unsigned char b;
		ssize_t n = read(s, &b, 1);
		if (n != 1)
			FAIL("read %llu: %zd errno %d", (unsigned long long)i, n, errno);
		if (b != pat(i, 9))
			FAIL("byte %llu: 0x%02x, want 0x%02x", (unsigned long long)i, b, pat(i, 9));
	}
	pthread_join(t, NULL);

	/* 1000 writes of 7 bytes, read back 4096 at a time: each read spans many writes. */
	for (uint64_t i = 0; i < 1000; i++) {
		pat_fill(buf, 7, i * 7, 10);
		write_all(c, buf, 7);
	}
	uint64_t off = 0;
	int reads = 0;
	while (off < 7000) {
		ssize_t n = read(s, buf, 4096);
		CHECK(n > 0);
		pat_check(buf, (size_t)n, off, 10);
		off += (uint64_t)n;
		reads++;
	}
	CHECK_EQ(off, 7000);
	/* Reads take what is there (TCP: 2-4 reads), not one write's 7 bytes each. */
	if (reads > 10)
		FAIL("7000 bytes took %d reads of up to 4096", reads);

	/* Odd write sizes and odd read sizes. */
	uint64_t woff = 0;
	for (int i = 0; i < 500; i++) {
		size_t n = 1 + (size_t)(i * 37 % 113);
		pat_fill(buf, n, woff, 12);
		write_all(c, buf, n);
		woff += n;
	}
	off = 0;
	for (int i = 0; off < woff; i++) {
		size_t want = 1 + (size_t)(i * 53 % 97);
		if (want > woff - off)
			want = woff - off;
		read_all(s, buf, want);
		pat_check(buf, want, off, 12);
		off += want;
	}

	/* A read bigger than what is there returns what is there. */
	write_all(c, "xyz", 3);
	CHECK_EQ(read(s, buf, sizeof(buf)), 3);
	CHECK(memcmp(buf, "xyz", 3) == 0);
	require_xio(s);
	close(c);
	close(s);
	printf("partial_reads: ok\n");
	return 0;
}

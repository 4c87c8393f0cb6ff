/* SPDX-License-Identifier: MIT */
/*
 * Proves: sendfile from a regular file to a connection sends exactly the
 * requested bytes: with an offset pointer the offset advances by what was
 * sent and the file position stays; with NULL the file position advances;
 * a count past the end of the file sends what is left and then 0; on a
 * non-blocking connection whose send path is full it fails EAGAIN and a
 * short send moves the offset only by what was sent, so a resumed loop loses
 * nothing (4 MiB intact); a write-only source is EBADF.
 */
#include <pthread.h>
#include <sys/sendfile.h>

#include "helpers.h"

#define SIZE (4u << 20)

static int c;

static void *read_all_of(void *arg)
{
	(void)arg;
	static char buf[65536];
	uint64_t off = 0;
	while (off < SIZE) {
		size_t want = SIZE - off < sizeof(buf) ? SIZE - off : sizeof(buf);
		ssize_t n = read(c, buf, want);
		CHECK(n > 0);
		pat_check(buf, (size_t)n, off, 5);
		off += (uint64_t)n;
		if (off < SIZE / 2)
			sleep_ms(off % 8 == 0); /* a slow start: the send path fills */
	}
	return NULL;
}

int main(void)
{
	char path[] = "/tmp/xio-sendfile-XXXXXX";
	char buf[256];
	int s;

	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	int f = OK(mkstemp(path));
	unlink(path);
	char *data = malloc(SIZE);
	CHECK(data);
	pat_fill(data, SIZE, 0, 5);
	write_all(f, data, SIZE);
	make_pair(&c, &s);

	/* With an offset: 100 bytes from 1000; the file position is untouched. */
	OK(lseek(f, 7, SEEK_SET));
	off_t off = 1000;
	CHECK_EQ(sendfile(s, f, &off, 100), 100);
	CHECK_EQ(off, 1100);
	CHECK_EQ(lseek(f, 0, SEEK_CUR), 7);
	read_all(c, buf, 100);
	pat_check(buf, 100, 1000, 5);

	/* Without: from the file position, which advances. */
	CHECK_EQ(sendfile(s, f, NULL, 50), 50);
	CHECK_EQ(lseek(f, 0, SEEK_CUR), 57);
	read_all(c, buf, 50);
	pat_check(buf, 50, 7, 5);

	/* Past the end: what is left, then 0. */
	off = SIZE - 10;
	CHECK_EQ(sendfile(s, f, &off, 100), 10);
	CHECK_EQ(off, SIZE);
	CHECK_EQ(sendfile(s, f, &off, 100), 0);
	read_all(c, buf, 10);
	pat_check(buf, 10, SIZE - 10, 5);

	/* A write-only source. */
	int wo = OK(open("/dev/null", O_WRONLY));
	CHECK_ERR(sendfile(s, wo, NULL, 10), EBADF);
	close(wo);

	/* Non-blocking, full path: EAGAIN, and the offset only moves by what went out. */
	set_nonblock(s, 1);
	size_t queued = fill_until_eagain(s);
	off = 0;
	CHECK_ERR(sendfile(s, f, &off, 4096), EAGAIN);
	CHECK_EQ(off, 0);
	static char junk[65536];
	for (size_t got = 0; got < queued;) {
		ssize_t n =
		    read(c, junk, queued - got < sizeof(junk) ? queued - got : sizeof(junk));
		CHECK(n > 0);
		got += (size_t)n;
	}
	pthread_t t;
	pthread_create(&t, NULL, read_all_of, NULL);
	while (off < (off_t)SIZE) {
		off_t before = off;
		ssize_t n = sendfile(s, f, &off, SIZE - (size_t)off);
		if (n < 0) {
			CHECK_EQ(errno, EAGAIN);
			CHECK_EQ(off, before);
			sleep_ms(1);
			continue;
		}
		CHECK(n > 0);
		CHECK_EQ(off, before + n);
	}
	pthread_join(t, NULL);
	require_xio(s);
	free(data);
	close(f);
	close(c);
	close(s);
	printf("sendfile_file: ok\n");
	return 0;
}

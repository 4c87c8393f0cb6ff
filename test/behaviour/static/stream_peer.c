/* SPDX-License-Identifier: MIT */
/*
 * Linked -static, so it can never load the preload: what a static program
 * that inherits a connection sees (behaviour_demote_exec). Usage:
 *   stream_peer FD READ_BYTES READ_SEED WRITE_OFFSET WRITE_BYTES WRITE_SEED
 * Reads READ_BYTES of the pattern (seed READ_SEED, from offset 0) while it
 * writes WRITE_BYTES of the pattern (seed WRITE_SEED) starting at stream
 * offset WRITE_OFFSET, with plain non-blocking kernel calls and poll; then
 * shuts down its writing side and waits for the peer's EOF. Exit 0 when
 * every byte was where it belonged.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Same pattern as helpers.h (kept separate: this program links statically). */
static unsigned char pat(uint64_t i, unsigned seed)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ seed;
	return (unsigned char)(x >> 56 ^ x >> 23 ^ i);
}

int main(int argc, char **argv)
{
	if (argc != 7)
		return 2;
	int fd = atoi(argv[1]);
	uint64_t rtotal = strtoull(argv[2], NULL, 0), woff = strtoull(argv[4], NULL, 0);
	uint64_t wtotal = strtoull(argv[5], NULL, 0), rd = 0, wr = 0;
	unsigned rseed = (unsigned)atoi(argv[3]), wseed = (unsigned)atoi(argv[6]);
	static unsigned char buf[65536];

	alarm(25);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (rd < rtotal || wr < wtotal) {
		struct pollfd p = {
		    .fd = fd,
		    .events = (short)((rd < rtotal ? POLLIN : 0) | (wr < wtotal ? POLLOUT : 0))};
		if (poll(&p, 1, 10000) <= 0) {
			fprintf(stderr, "stream_peer: stalled at read %llu/%llu write %llu/%llu\n",
				(unsigned long long)rd, (unsigned long long)rtotal,
				(unsigned long long)wr, (unsigned long long)wtotal);
			return 1;
		}
		if (rd < rtotal && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
			size_t want =
			    rtotal - rd < sizeof(buf) ? (size_t)(rtotal - rd) : sizeof(buf);
			ssize_t n = read(fd, buf, want);
			if (n == 0) {
				fprintf(stderr, "stream_peer: EOF after %llu of %llu bytes\n",
					(unsigned long long)rd, (unsigned long long)rtotal);
				return 1;
			}
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				perror("stream_peer: read");
				return 1;
			}
			for (ssize_t i = 0; i < n; i++, rd++)
				if (buf[i] != pat(rd, rseed)) {
					fprintf(stderr,
						"stream_peer: byte %llu is 0x%02x, want 0x%02x\n",
						(unsigned long long)rd, buf[i], pat(rd, rseed));
					return 1;
				}
		}
		if (wr < wtotal && (p.revents & POLLOUT)) {
			size_t k = wtotal - wr < sizeof(buf) ? (size_t)(wtotal - wr) : sizeof(buf);
			for (size_t i = 0; i < k; i++)
				buf[i] = pat(woff + wr + i, wseed);
			ssize_t n = write(fd, buf, k);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				perror("stream_peer: write");
				return 1;
			}
			if (n > 0)
				wr += (uint64_t)n;
		}
	}
	shutdown(fd, SHUT_WR);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	ssize_t n = read(fd, buf, 1);
	if (n != 0) {
		fprintf(stderr, "stream_peer: read %zd at the end, want EOF\n", n);
		return 1;
	}
	return 0;
}

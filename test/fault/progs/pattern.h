/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the fault-test programs: a deterministic byte pattern
 * (every byte of a stream is a function of its seed and its offset, so a
 * receiver can verify each byte it gets without having seen the sender),
 * a small PRNG, clocks, connecting and listening, and VmRSS.
 */
#ifndef XIO_FAULT_PATTERN_H
#define XIO_FAULT_PATTERN_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t fp_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Byte @off of the stream with seed @seed. */
static inline uint8_t fp_byte(uint64_t seed, uint64_t off)
{
	return (uint8_t)(fp_mix(seed * 0x100000001b3ull ^ (off >> 3)) >> ((off & 7) * 8));
}

/* Fill @buf with bytes [off, off+len) of the stream. */
static inline void fp_fill(uint8_t *buf, uint64_t seed, uint64_t off, size_t len)
{
	size_t i = 0;
	while (i < len && ((off + i) & 7))
		buf[i] = fp_byte(seed, off + i), i++;
	for (; i + 8 <= len; i += 8) {
		uint64_t v = fp_mix(seed * 0x100000001b3ull ^ ((off + i) >> 3));
		memcpy(buf + i, &v, 8); /* little endian: byte k is bits 8k.. */
	}
	for (; i < len; i++)
		buf[i] = fp_byte(seed, off + i);
}

/* Index of the first byte of @buf that is not the stream's, or -1. */
static inline long fp_check(const uint8_t *buf, uint64_t seed, uint64_t off, size_t len)
{
	uint8_t tmp[4096];
	size_t done = 0;
	while (done < len) {
		size_t k = len - done < sizeof(tmp) ? len - done : sizeof(tmp);
		fp_fill(tmp, seed, off + done, k);
		if (memcmp(tmp, buf + done, k) != 0) {
			for (size_t j = 0; j < k; j++)
				if (tmp[j] != buf[done + j])
					return (long)(done + j);
		}
		done += k;
	}
	return -1;
}

/* xorshift64*: per-thread random sizes. */
static inline uint64_t fp_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x2545f4914f6cdd1dull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Log-uniform size in [1, max]. */
static inline size_t fp_rand_size(uint64_t *s, size_t max)
{
	unsigned bits = 1 + (unsigned)(fp_rand(s) % 19); /* 1 .. 2^18 */
	size_t n = 1 + (size_t)(fp_rand(s) % ((size_t)1 << bits));
	return n > max ? max : n;
}

static inline uint64_t fp_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline int fp_sockaddr(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return AF_INET6;
	}
	return -1;
}

/* A TCP socket connected to ip:port, or -errno. */
static inline int fp_connect(const char *ip, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fam = fp_sockaddr(ip, port, &ss, &sl);
	if (fam < 0)
		return -EINVAL;
	int fd = socket(fam, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* A TCP listener on ip:port, or -errno. */
static inline int fp_listen(const char *ip, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;
	int fam = fp_sockaddr(ip, port, &ss, &sl);
	if (fam < 0)
		return -EINVAL;
	int fd = socket(fam, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* VmRSS of this process in kB (0 if unknown). */
static inline long fp_rss_kb(void)
{
	char line[256];
	long v = 0;
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return 0;
	long shm = 0;
	/*
	 * Without RssShmem: ring pages of the domain's ring file are shared
	 * memory that follows the connections (xio-stat counts it), not the
	 * process's own.
	 */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &v) != 1)
			(void)sscanf(line, "RssShmem: %ld", &shm);
	fclose(f);
	return v - shm;
}

/* Create @path (with @text) atomically: tests poll for it. */
static inline void fp_mark(const char *path, const char *text)
{
	char tmp[4096];
	if (!path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	rename(tmp, path);
}

#endif

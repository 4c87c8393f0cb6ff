/* SPDX-License-Identifier: MIT */
/*
 * Proves: stdio streams opened with fdopen on a connection (one for reading,
 * one for writing on a dup, as classic servers do) carry a correct byte
 * stream in both directions while the peer uses plain read/write: fprintf +
 * fflush arrive exactly, line-buffered fputs arrives at each newline, fgets
 * and getline split lines, fscanf parses, 256 KiB through fwrite/fread are
 * intact, bytes the peer wrote before fdopen are read through the stream;
 * after fclose of both streams the peer sees EOF, and the stream sees EOF
 * (feof) when the peer shuts down.
 */
#include "helpers.h"

#define BIG (256 * 1024)

int main(void)
{
	char buf[256];
	int c, s;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);

	/* Bytes already there before the stream exists. */
	write_all(c, "early line\n", 11);
	FILE *in = fdopen(s, "r");
	CHECK(in != NULL);
	FILE *out = fdopen(OK(dup(s)), "w");
	CHECK(out != NULL);
	CHECK(fgets(buf, sizeof(buf), in) != NULL);
	CHECK(strcmp(buf, "early line\n") == 0);

	/* fprintf + fflush: exactly these bytes. */
	CHECK_EQ(fprintf(out, "hello %d %s\n", 42, "world"), 15);
	CHECK_EQ(fflush(out), 0);
	read_all(c, buf, 15);
	CHECK(memcmp(buf, "hello 42 world\n", 15) == 0);

	/* Line buffered: each fputs of a line is on the wire at once. */
	OK(setvbuf(out, NULL, _IOLBF, 0));
	CHECK(fputs("line-1\n", out) >= 0);
	read_all(c, buf, 7);
	CHECK(memcmp(buf, "line-1\n", 7) == 0);

	/* fgets, getline and fscanf over what the peer writes. */
	write_all(c, "first\nsecond line\n17 abc 3.5\n", 29);
	CHECK(fgets(buf, sizeof(buf), in) != NULL);
	CHECK(strcmp(buf, "first\n") == 0);
	char *line = NULL;
	size_t cap = 0;
	CHECK_EQ(getline(&line, &cap, in), 12);
	CHECK(strcmp(line, "second line\n") == 0);
	free(line);
	int num;
	char word[16];
	double d;
	CHECK_EQ(fscanf(in, "%d %15s %lf", &num, word, &d), 3);
	CHECK_EQ(num, 17);
	CHECK(strcmp(word, "abc") == 0);
	CHECK(d == 3.5);
	CHECK_EQ(fgetc(in), '\n');

	/* 256 KiB each way through fwrite/fread, checked byte by byte. */
	char *big = malloc(BIG), *got = malloc(BIG);
	CHECK(big && got);
	pat_fill(big, BIG, 0, 11);
	pid_t pid = fork_child();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* The peer side in a child: echo BIG bytes back with plain read/write. */
		watchdog(15);
		fclose(in);
		fclose(out);
		char *e = malloc(BIG);
		read_all(c, e, BIG);
		pat_check(e, BIG, 0, 11);
		write_all(c, e, BIG);
		_exit(0);
	}
	CHECK_EQ(fwrite(big, 1, BIG, out), BIG);
	CHECK_EQ(fflush(out), 0);
	CHECK_EQ(fread(got, 1, BIG, in), BIG);
	pat_check(got, BIG, 0, 11);
	wait_ok(pid);
	free(big);
	free(got);

	/* The peer shuts down: the stream reaches EOF. */
	OK(shutdown(c, SHUT_WR));
	CHECK_EQ(fgetc(in), EOF);
	CHECK(feof(in));

	/* Both streams closed: the peer sees EOF. */
	CHECK_EQ(fclose(out), 0);
	CHECK_EQ(fclose(in), 0);
	CHECK_EQ(read(c, buf, sizeof(buf)), 0);
	close(c);
	printf("fdopen_stdio: ok\n");
	return 0;
}

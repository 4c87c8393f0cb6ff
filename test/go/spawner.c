/* SPDX-License-Identifier: MIT */
/*
 * spawner HOW PROG ARGS...: start PROG the way HOW says, from a dynamically
 * linked (so preloaded) program, wait for it and exit with its status.
 *
 *   posix_spawn, posix_spawnp        the libc calls (posix_spawnp: PROG on $PATH)
 *   system, popen                    PROG ARGS joined into one /bin/sh command line
 *   execve, execv, execvp, execle    the exec family, in a forked child
 *   fexecve, execveat                an fd of PROG (O_RDONLY), in a forked child
 *   fexecve-memfd                    fexecve of a copy of PROG in an O_CLOEXEC memfd
 *
 * SPAWNER_UNSETENV=VAR[,VAR...]: remove these variables from its own
 * environment first (as programs that clean their children's environment do).
 *
 * The tests of test/go start Go and static servers with it: whatever the
 * way, the program must end up under xio-run's supervisor (shim/exec.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int status_of(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* PROG ARGS as one shell command line, each word single-quoted. */
static char *command_line(char **argv)
{
	size_t len = 1;
	for (int i = 0; argv[i]; i++)
		len += 4 * strlen(argv[i]) + 3;
	char *s = malloc(len), *p = s;
	if (!s)
		return NULL;
	for (int i = 0; argv[i]; i++) {
		*p++ = i ? ' ' : '\'';
		if (i)
			*p++ = '\'';
		for (const char *c = argv[i]; *c; c++) {
			if (*c == '\'') {
				memcpy(p, "'\\''", 4);
				p += 4;
			} else {
				*p++ = *c;
			}
		}
		*p++ = '\'';
	}
	*p = 0;
	return s;
}

static void exec_child(const char *how, char **argv)
{
	if (!strcmp(how, "execve")) {
		execve(argv[0], argv, environ);
	} else if (!strcmp(how, "execv")) {
		execv(argv[0], argv);
	} else if (!strcmp(how, "execvp")) {
		execvp(argv[0], argv);
	} else if (!strcmp(how, "execle")) {
		/* Up to three words, as the tests use: the list ends at the first NULL. */
		int n = 0;
		while (argv[n] && n < 3)
			n++;
		if (n == 3)
			execle(argv[0], argv[0], argv[1], argv[2], (char *)NULL, environ);
		else if (n == 2)
			execle(argv[0], argv[0], argv[1], (char *)NULL, environ);
		else
			execle(argv[0], argv[0], (char *)NULL, environ);
	} else if (!strcmp(how, "fexecve") || !strcmp(how, "execveat") ||
		   !strcmp(how, "fexecve-memfd")) {
		int fd = open(argv[0], O_RDONLY);
		if (fd < 0) {
			perror(argv[0]);
			_exit(127);
		}
		if (!strcmp(how, "fexecve-memfd")) {
			/* A copy in an O_CLOEXEC memfd: no file an exec could name. */
			int m = memfd_create("spawner-memfd", MFD_CLOEXEC);
			struct stat st;
			if (m < 0 || fstat(fd, &st) < 0 ||
			    sendfile(m, fd, NULL, (size_t)st.st_size) != st.st_size) {
				perror("spawner: memfd");
				_exit(127);
			}
			fd = m;
		}
		if (strcmp(how, "execveat") != 0)
			fexecve(fd, argv, environ);
		else
			execveat(fd, "", argv, environ, AT_EMPTY_PATH);
	} else {
		fprintf(stderr, "spawner: unknown way %s\n", how);
		_exit(2);
	}
	fprintf(stderr, "spawner: %s %s: %s\n", how, argv[0], strerror(errno));
	_exit(127);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: spawner HOW PROG ARGS...\n");
		return 2;
	}
	const char *how = argv[1];
	char **prog = argv + 2;
	const char *strip = getenv("SPAWNER_UNSETENV");
	if (strip) {
		char *list = strdup(strip), *save = NULL;
		for (char *v = strtok_r(list, ",", &save); v; v = strtok_r(NULL, ",", &save))
			unsetenv(v);
		unsetenv("SPAWNER_UNSETENV");
	}
	pid_t pid;
	int st = 0;
	if (!strcmp(how, "posix_spawn") || !strcmp(how, "posix_spawnp")) {
		int e = how[11] ? posix_spawnp(&pid, prog[0], NULL, NULL, prog, environ)
				: posix_spawn(&pid, prog[0], NULL, NULL, prog, environ);
		if (e) {
			fprintf(stderr, "spawner: %s %s: %s\n", how, prog[0], strerror(e));
			return 127;
		}
	} else if (!strcmp(how, "system")) {
		char *cmd = command_line(prog);
		st = cmd ? system(cmd) : -1;
		if (st < 0) {
			perror("spawner: system");
			return 127;
		}
		return status_of(st);
	} else if (!strcmp(how, "popen")) {
		char *cmd = command_line(prog), line[512];
		FILE *f = cmd ? popen(cmd, "r") : NULL;
		if (!f) {
			perror("spawner: popen");
			return 127;
		}
		/* What it prints comes through the pipe: pass it on. */
		while (fgets(line, sizeof(line), f)) {
			fputs(line, stdout);
			fflush(stdout);
		}
		return status_of(pclose(f));
	} else {
		pid = fork();
		if (pid < 0) {
			perror("spawner: fork");
			return 127;
		}
		if (pid == 0)
			exec_child(how, prog);
	}
	printf("spawner: started pid %d\n", (int)pid);
	fflush(stdout);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			perror("spawner: waitpid");
			return 127;
		}
	return status_of(st);
}

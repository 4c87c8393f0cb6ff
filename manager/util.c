/* SPDX-License-Identifier: MIT */
/* Small helpers: messages, randomness, directories, /proc/meminfo. */
#include <errno.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager.h"

void mgr_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	xio_log_vline("xio-manager", fmt, ap);
	va_end(ap);
}

int mgr_random(void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int mkdir_one(const char *path, mode_t mode, gid_t gid)
{
	struct stat st;

	if (mkdir(path, mode) == 0) {
		/* mkdir honours the umask; the mode we were asked for is the policy */
		if (chmod(path, mode) < 0)
			return -errno;
		if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0)
			return -errno;
		return 0;
	}
	if (errno != EEXIST)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int mgr_sockopt_int(int fd, int level, int name, int *v)
{
	socklen_t len = sizeof(*v);

	*v = 0;
	return getsockopt(fd, level, name, v, &len) < 0 ? -errno : 0;
}

int mgr_mkdir_p(const char *path, mode_t mode, gid_t gid)
{
	char buf[PATH_MAX];
	int r;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		r = mkdir_one(buf, mode, gid);
		*p = '/';
		if (r < 0)
			return r;
	}
	return mkdir_one(buf, mode, gid);
}

int mgr_check_dir(const char *path, bool must_be_ours)
{
	struct stat st;
	uid_t me = geteuid();

	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (must_be_ours ? (st.st_uid != me && me != 0) : (st.st_uid != me && st.st_uid != 0))
		return -EPERM;
	/* someone else could swap our files: only a sticky world-writable dir is safe */
	if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
		return -EPERM;
	return 0;
}

int mgr_meminfo(const char *key, uint64_t *val)
{
	char line[256];
	size_t kl = strlen(key);
	FILE *f = fopen("/proc/meminfo", "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;
		if (strncmp(line, key, kl) || line[kl] != ':')
			continue;
		if (sscanf(line + kl + 1, "%llu", &v) == 1) {
			*val = v;
			r = 0;
		}
		break;
	}
	fclose(f);
	return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * Starting the EAL: hugepages when we can get them, ordinary memory otherwise.
 * Both keep the memory in memfds (--in-memory / --no-shconf), so a crashed
 * manager leaves nothing behind in /dev/hugepages or /var/run/dpdk.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "manager.h"

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

/* Free default-size hugepages (not yet promised to anyone), in bytes. */
static uint64_t hugepages_free(uint64_t *pgsz)
{
	uint64_t kb = 0, nfree = 0, rsvd = 0;

	if (mgr_meminfo("Hugepagesize", &kb) < 0 || !kb)
		return 0;
	mgr_meminfo("HugePages_Free", &nfree);
	mgr_meminfo("HugePages_Rsvd", &rsvd);
	*pgsz = kb * 1024;
	return nfree > rsvd ? (nfree - rsvd) * kb * 1024 : 0;
}

/* Ask the kernel for @more default-size hugepages on top of the current pool. */
static void hugepages_raise(uint64_t more)
{
	char buf[32];
	unsigned long long cur = 0;
	int fd = open(NR_HUGEPAGES, O_RDWR | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = 0;
		cur = strtoull(buf, NULL, 10);
		n = snprintf(buf, sizeof(buf), "%llu\n", cur + (unsigned long long)more);
		if (pwrite(fd, buf, (size_t)n, 0) < 0) {
			/* the kernel may give fewer than asked; the caller re-reads meminfo */
		}
	}
	close(fd);
}

/* Decide hugepages vs ordinary memory for the domain. */
static int choose_memory(struct mgr *m)
{
	uint64_t need, pgsz = 0, avail;

	m->hugepages = false;
	if (m->o.hugepages == MGR_HP_NO)
		return 0;
	avail = hugepages_free(&pgsz);
	m->hugepage_size = pgsz;
	/* one extra page: the memzone header element can push the zone over a page */
	need = m->zone_raw + MGR_EAL_SLACK + pgsz;
	if (geteuid() == 0 && pgsz) {
		if (avail < need) {
			hugepages_raise((need - avail + pgsz - 1) / pgsz);
			avail = hugepages_free(&pgsz);
		}
		m->hugepages = avail >= need;
	}
	if (m->hugepages)
		return 0;
	if (m->o.hugepages == MGR_HP_YES) {
		mgr_err("domain '%s' needs %llu MB of free hugepages%s", m->o.domain,
			(unsigned long long)(need >> 20),
			geteuid() ? " and root" : " (see " NR_HUGEPAGES ")");
		return -ENOMEM;
	}
	mgr_err("no hugepages, domain '%s' uses ordinary memory", m->o.domain);
	return 0;
}

int mgr_eal_start(struct mgr *m)
{
	char prefix[96], lcore[16], mem[32];
	char *argv[16];
	int argc = 0, r, cpu = 0;
	cpu_set_t cpus;
	bool have_cpus;

	r = choose_memory(m);
	if (r < 0)
		return r;

	/* EAL pins us to its main lcore: use a CPU we may run on, give the rest back later */
	have_cpus = sched_getaffinity(0, sizeof(cpus), &cpus) == 0;
	if (have_cpus)
		while (cpu < CPU_SETSIZE - 1 && !CPU_ISSET(cpu, &cpus))
			cpu++;
	snprintf(prefix, sizeof(prefix), "--file-prefix=xio_%s_%u", m->o.domain,
		 (unsigned)geteuid());
	snprintf(lcore, sizeof(lcore), "%d", cpu);
	argv[argc++] = "xio-manager";
	argv[argc++] = prefix;
	argv[argc++] = "--no-pci";
	argv[argc++] = "--no-telemetry";
	argv[argc++] = "--iova-mode=va";
	argv[argc++] = "-l";
	argv[argc++] = lcore;
	argv[argc++] = "--log-level=lib.eal:error";
	if (m->hugepages) {
		argv[argc++] = "--in-memory";
		argv[argc++] = "--single-file-segments";
	} else {
		/* --in-memory is refused with --no-huge; --no-shconf gives a memfd too */
		snprintf(mem, sizeof(mem), "%llu",
			 (unsigned long long)((m->zone_raw + MGR_EAL_SLACK + (1 << 20) - 1) >> 20));
		argv[argc++] = "--no-huge";
		argv[argc++] = "--no-shconf";
		argv[argc++] = "--single-file-segments";
		argv[argc++] = "-m";
		argv[argc++] = mem;
	}
	argv[argc] = NULL;

	if (rte_eal_init(argc, argv) < 0) {
		mgr_err("cannot start the EAL for domain '%s': %s", m->o.domain,
			rte_strerror(rte_errno));
		return -(rte_errno ? rte_errno : EIO);
	}
	if (have_cpus && sched_setaffinity(0, sizeof(cpus), &cpus) < 0)
		mgr_err("cannot restore CPU affinity: %s", strerror(errno));
	return 0;
}

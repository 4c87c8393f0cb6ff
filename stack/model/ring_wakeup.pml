/*
 * SPDX-License-Identifier: MIT
 *
 * Promela model of the X-IO ring + doorbell + sleep/wake protocol, as
 * stack/conn.c implements it at commit c902551: xio_conn_send (check_peer,
 * which drains only once the peer shut down, xio_ring_put, bell_data,
 * wait_for), blocking xio_conn_recv (xio_ring_get, bell_space, wait_for),
 * wait_for (spin, xio_conn_wait_prepare, one poller per process and
 * followers on a condition variable, the poller's clearing of a stale
 * doorbell flag, 5 ms slices with foreign company, xio_conn_wait_finish)
 * and drain. Not modelled: epoll watchers (bell_data also rings for them),
 * non-blocking calls, timeouts. Keep it in step with stack/conn.c. Checked
 * by test/fault/wakeup_model.sh:
 *   - no assertion violation (EOF never overtakes data: a reader that sees
 *     EOF has consumed every record that was published),
 *   - no invalid end state (nobody sleeps forever while the others are done
 *     or asleep: a lost wake-up is a deadlock here),
 *   - liveness: a published record is eventually consumed (LTL, weak
 *     fairness).
 *
 * One connection has two ends (0 = client, 1 = server), each with its own
 * AF_UNIX fd. Direction d is produced by end d and consumed by end 1-d
 * (d = 0: C2S, 1: S2C). Both directions' doorbells for an end arrive on that
 * end's fd, which is what makes two threads of one process (a reader and a
 * writer) interact: both may drain the same fd (the poller in wait_for, and
 * check_peer at the start of a send once the peer has shut down).
 *
 * Granularity: one record per send, one record per receive; the ring holds
 * CAP records; N records per direction, then shutdown(SHUT_WR) (the kernel
 * carries the FIN on the AF_UNIX socket). Every numbered step below is one
 * shared-memory or system-call action of the C code; the seq_cst fences of
 * the C code make this interleaving (sequentially consistent) model faithful
 * for the words involved.
 *
 * Configurations (spin -D...):
 *   (default)          SIMPLEX: a writer on end 0, a reader on end 1
 *   -DSHARED           SIMPLEX plus a writer thread on the server end
 *                      sharing the reader's fd; the client reads that
 *                      direction with a consumer that never sleeps (it
 *                      polls the ring and rings space doorbells as
 *                      bell_space does). The smallest model in which two
 *                      threads of one process wait on, and drain, one fd.
 *   -DDUPLEX           both directions, a writer thread and a reader
 *                      thread on each end (a full-duplex application)
 *   -DNOSPIN           leave out the spin phase (smaller state space; the
 *                      loop's first check right after announcing covers
 *                      the same readiness, only later)
 *   -DMUTANT_NO_RECHECK  sleep once without re-checking the ring after
 *                      announcing sleep (the classic lost wake-up): the
 *                      checker must find it, which shows the model can see
 *                      the bug class
 *   -DMUTANT_CHECK_PEER  send's liveness check drains whenever the fd is
 *                      readable, as before commit 6968c32: with SHARED the
 *                      checker must find the doorbell theft (FINDINGS F9)
 */

#ifndef N
#define N 3		/* records per direction */
#endif
#define N1 N
#define NREC(d)	((d) == 0 -> N : N1)
#ifndef CAP
#define CAP 2		/* records a ring holds */
#endif

#define IN  1		/* POLLIN */
#define OUT 2		/* POLLOUT */

/* ---- shared memory: struct xio_dir[2] and the rings ---------------------- */
byte count[2];			/* records in ring d (rte_ring count from the tails) */
byte pub[2], cons[2];		/* records ever published / consumed (for the checks) */
byte readers_sleeping[2], data_bell_pending[2];
byte writers_waiting[2], space_bell_pending[2];

/* ---- kernel: the AF_UNIX socket pair --------------------------------------- */
bool sock[2];			/* doorbell bytes queued on end e's fd (drain() takes all) */
bool fin[2];			/* the other end shut down: end e's fd reads EOF after its bytes */

byte sleepers[2];		/* xio_dir.sleepers of the direction end e reads: waiters on e's fd */

/* ---- process-local (struct xio_conn of each end) --------------------------- */
bool peer_eof[2];		/* learned by drain() */
bool poller[2];			/* a thread of end e sleeps in poll() on its fd */
byte local_waiters[2];		/* threads of end e inside wait_for */
bool done_w[2], done_r[2];

#define room(d)		(CAP - count[d])
/* xio_conn_ready(): POLLIN when the ring has data or EOF was seen; POLLOUT at a third free */
#define ready_in(e)	(count[1 - (e)] > 0 || peer_eof[e])
#define ready_out(e)	(room(e) * 3 >= CAP)
#define ready(e, ev)	(((ev) == IN && ready_in(e)) || ((ev) == OUT && ready_out(e)))
#define readable(e)	(sock[e] || fin[e])	/* poll(fd, POLLIN) */

/* bell_data() of end e after publishing into direction e: fence; if a reader
 * sleeps and no doorbell is pending (exchange 0 -> 1), one byte to the peer. */
inline bell_data(e)
{
	if
	:: readers_sleeping[e] > 0 ->
		atomic { old = data_bell_pending[e]; data_bell_pending[e] = 1 };
		if
		:: old == 0 -> sock[1 - e] = true
		:: else -> skip
		fi;
		old = 0
	:: else -> skip
	fi
}

/* bell_space() of end e after consuming from direction 1-e. */
inline bell_space(e)
{
	if
	:: writers_waiting[1 - e] > 0 ->
		if
		:: room(1 - e) * 3 >= CAP ->
			atomic { old = space_bell_pending[1 - e]; space_bell_pending[1 - e] = 1 };
			if
			:: old == 0 -> sock[1 - e] = true
			:: else -> skip
			fi;
			old = 0
		:: else -> skip
		fi
	:: else -> skip
	fi
}

/* drain(): under drain_lock, recv(MSG_DONTWAIT) of every queued byte (a
 * recv that returns 0 - nothing queued, FIN seen - sets peer_eof); then
 * both pending flags of this end are cleared (data_bell_pending of the
 * direction it reads, space_bell_pending of the one it writes) and the
 * followers are woken (wake_seq++, broadcast). */
inline drain(e)
{
	atomic {
		if
		:: sock[e] -> sock[e] = false
		:: else ->
			if
			:: fin[e] -> peer_eof[e] = true
			:: else -> skip
			fi
		fi
	};
	data_bell_pending[1 - e] = 0;
	space_bell_pending[e] = 0
}

/* wait_for(c, fd, ev, -1). Followers wait on the condition variable with a
 * 100 ms timeout, so the model lets them re-check at any time. */
inline wait_for(e, ev)
{
#ifndef NOSPIN
	/* bounded spin: may see readiness before sleeping */
	if
	:: ready(e, ev) -> goto waited
	:: true -> skip
	fi;
#endif
	/* xio_conn_wait_prepare(): counters up, fence */
	sleepers[e]++;
	if
	:: ev == IN -> readers_sleeping[1 - e]++
	:: else -> writers_waiting[e]++
	fi;
	local_waiters[e]++;
	do
	:: /* under wait_lock: check readiness, then become the poller or a follower.
	    * One step: the other threads of this end change poller only under the
	    * same lock, and the peer's moves commute with these local ones. */
	   atomic {
		if
#ifndef MUTANT_NO_RECHECK
		:: ready(e, ev) -> role = 0
#else
		/* the mutant sleeps once without re-checking what it saw before announcing */
		:: checked && ready(e, ev) -> role = 0
#endif
		:: else ->
#ifdef MUTANT_NO_RECHECK
			checked = true;
#endif
			if
			:: !poller[e] -> poller[e] = true; role = 1
			:: else -> role = 2
			fi
		fi
	   };
	   if
	   :: role == 0 -> break
	   :: role == 2 -> role = 0	/* follower: woken by a drain, or after 100 ms */
	   :: role == 1 ->
		role = 0;
		/* a doorbell flag set with no byte in the socket is stale: clear it, re-check */
		if
		:: data_bell_pending[1 - e] || space_bell_pending[e] ->
			if
			:: !readable(e) ->	/* poll(fd, 0) == 0 */
				data_bell_pending[1 - e] = 0;
				space_bell_pending[e] = 0;
				if
				:: ready(e, ev) -> poller[e] = false; break
				:: else -> skip
				fi
			:: else -> skip
			fi
		:: else -> skip
		fi;
		/* foreign company (sleepers beyond this process): 5 ms slices */
		foreign = (sleepers[e] > local_waiters[e]);
		if
		:: readable(e) -> drain(e)	/* poll() returned the fd */
		:: foreign -> skip		/* the slice ran out */
		fi;
		foreign = false;
		poller[e] = false		/* under wait_lock: wake_seq++, broadcast */
	   fi
	od;
#ifdef MUTANT_NO_RECHECK
	checked = false;
#endif
	local_waiters[e]--;
	/* xio_conn_wait_finish(c, -1, ev): counters down, own flag cleared, no drain */
	sleepers[e]--;
	if
	:: ev == IN -> readers_sleeping[1 - e]--; data_bell_pending[1 - e] = 0
	:: else -> writers_waiting[e]--; space_bell_pending[e] = 0
	fi;
waited:
	skip
}

/* xio_conn_send of N one-record writes, then shutdown(SHUT_WR). */
proctype writer(byte e)
{
	byte old, role;
	bool foreign, checked;

	do
	:: pub[e] == NREC(e) -> break
	:: pub[e] < NREC(e) ->
		/* check_peer(): at most once a ms, poll(fd, POLLRDHUP, 0); drain on RDHUP/HUP */
		if
#ifndef MUTANT_CHECK_PEER
		:: fin[e] -> drain(e)
#else
		:: readable(e) -> drain(e)	/* as before 6968c32 (FINDINGS F9) */
#endif
		:: true -> skip
		fi;
		if
		:: room(e) > 0 ->
			/* xio_ring_put(): the record becomes visible (tail store) */
			d_step { count[e]++; pub[e]++ };
			bell_data(e)
		:: else ->
			bell_data(e);	/* flush a deferred doorbell before waiting */
			wait_for(e, OUT)
		fi
	od;
	fin[1 - e] = true;	/* shutdown(fd, SHUT_WR): the peer's fd reads EOF */
	done_w[e] = true
}

/* SHARED: the client's side of direction 1, a consumer that never sleeps. */
proctype sink(byte e)
{
	byte old;

	do
	:: count[1 - e] > 0 ->
		d_step { count[1 - e]--; cons[1 - e]++ };
		bell_space(e)
	:: pub[1 - e] == NREC(1 - e) && count[1 - e] == 0 -> break
	od;
	done_r[e] = true
}

/* xio_conn_recv of one record at a time until EOF. */
proctype reader(byte e)
{
	byte old, role;
	bool foreign, checked;

	do
	:: count[1 - e] > 0 ->
		/* xio_ring_get() consumed a record (cons tail store) */
		d_step { count[1 - e]--; cons[1 - e]++ };
		bell_space(e)
	:: count[1 - e] == 0 ->
		if
		:: peer_eof[e] ->
			if
			:: count[1 - e] == 0 -> break	/* EOF */
			:: else -> skip
			fi
		:: !peer_eof[e] -> wait_for(e, IN)
		fi
	od;
	/* EOF never overtakes data */
	assert(cons[1 - e] == NREC(1 - e) && pub[1 - e] == NREC(1 - e));
	done_r[e] = true
}

init {
	atomic {
#ifdef DUPLEX
		run writer(0);
		run reader(0);
		run writer(1);
		run reader(1);
#elif defined(SHARED)
		run writer(0);
		run reader(1);
		run writer(1);
		run sink(0);
#else
		run writer(0);
		run reader(1);
		/* no traffic the other way: that direction is done */
		pub[1] = N; cons[1] = N; done_w[1] = true; done_r[0] = true;
#endif
	}
}

/* A published record is eventually consumed (the last one included). */
ltl consumed {
	[] ((pub[0] > cons[0]) -> <> (cons[0] == pub[0])) &&
	[] ((pub[1] > cons[1]) -> <> (cons[1] == pub[1]))
}

/*
 * SPDX-License-Identifier: MIT
 *
 * Promela model of the X-IO ring + doorbell + sleep/wake protocol, as
 * stack/conn.c implements it (xio_conn_send, xio_conn_recv, wait_for,
 * xio_conn_wait_prepare/finish, drain, bell_data, bell_space,
 * xio_conn_has_company). Checked by test/fault/wakeup_model.sh:
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
 * writer) interact: both drain the same fd.
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
 *   -DDUPLEX           both directions, a writer thread and a reader
 *                      thread on each end (a full-duplex application)
 *   -DMUTANT_NO_RECHECK  drop the re-check after announcing sleep (the
 *                      classic lost wake-up): the checker must find it,
 *                      which shows the model can see the bug class
 */

#ifndef N
#define N 3		/* records per direction */
#endif
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

/* ---- process-local (struct xio_conn of each end) --------------------------- */
bool peer_eof[2];		/* learned by drain() */
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

/* drain(): under the conn's drain_lock. recv(MSG_DONTWAIT) of every queued
 * byte; a recv that returns 0 (nothing queued, FIN seen) sets peer_eof. */
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
	}
}

/* xio_conn_wait_finish(c, fd, ev) */
inline wait_finish(e, ev)
{
	if
	:: ev == IN -> readers_sleeping[1 - e]--
	:: else -> writers_waiting[e]--
	fi;
	drain(e);
	if
	:: ev == IN -> data_bell_pending[1 - e] = 0
	:: else -> space_bell_pending[e] = 0
	fi
}

/* wait_for(c, fd, ev, -1): spin, announce, re-check, poll (5 ms slices with
 * company), finish. */
inline wait_for(e, ev)
{
	/* bounded spin: may see readiness before sleeping */
	if
	:: ready(e, ev) -> goto waited
	:: true -> skip
	fi;
	/* xio_conn_wait_prepare(): counter up, fence */
	if
	:: ev == IN -> readers_sleeping[1 - e]++
	:: else -> writers_waiting[e]++
	fi;
#ifndef MUTANT_NO_RECHECK
	if
	:: ready(e, ev) -> wait_finish(e, ev); goto waited
	:: else -> skip
	fi;
#endif
	/* xio_conn_has_company(): rxd->readers_sleeping + txd->writers_waiting > 1 */
	company = (readers_sleeping[1 - e] + writers_waiting[e] > 1);
	/* poll(fd, POLLIN, company ? 5 : -1) */
	if
	:: readable(e) -> skip
	:: company -> skip	/* the 5 ms slice ran out */
	fi;
	company = false;
	wait_finish(e, ev);
waited:
	skip
}

/* xio_conn_send of N one-record writes, then shutdown(SHUT_WR). */
proctype writer(byte e)
{
	byte old;
	bool company;

	do
	:: pub[e] == N -> break
	:: pub[e] < N ->
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

/* xio_conn_recv of one record at a time until EOF. */
proctype reader(byte e)
{
	byte old;
	bool company;

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
	assert(cons[1 - e] == N && pub[1 - e] == N);
	done_r[e] = true
}

init {
	atomic {
#ifdef DUPLEX
		run writer(0);
		run reader(0);
		run writer(1);
		run reader(1);
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

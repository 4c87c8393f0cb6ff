/*
 * SPDX-License-Identifier: MIT
 *
 * Promela model of the X-IO ring + doorbell + sleep/wake protocol, as
 * stack/conn.c and stack/wait.c implement it: xio_conn_send (check_peer,
 * which drains only once the peer closed, xio_ring_put, bell_data,
 * wait_for), blocking xio_conn_recv (xio_ring_get, bell_space, wait_for),
 * shutdown (the FIN in the slot and a doorbell), wait_for as the engine
 * runs it (look, announce, look again under wait_lock, one poller per
 * process and followers on a condition variable, the poller's clearing of
 * a stale doorbell flag, 5 ms slices with foreign company, withdraw) and
 * drain, and (-DBOARD) an epoll set on a news board. Not modelled: epoll
 * watchers (bell_data also rings for them),
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
 * CAP records; N records per direction, then shutdown(SHUT_WR), which
 * stores the FIN in the slot after the last record and rings like a record
 * (the AF_UNIX socket never reads EOF here: that is the peer's close, after
 * which every wait ends at once; not modelled). Every numbered step below is one
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
 *   -DPOLLERS          (with SHARED or DUPLEX) the waiters are those of the
 *                      poll and epoll front-ends (shim/poll.c, shim/epoll.c):
 *                      no leader/follower, each sleeps in the kernel on the
 *                      shared fd and drains it, and with company (another
 *                      sleeper on the fd: xio_conn_has_company) in 5 ms
 *                      slices
 *                      and a waiter that announced alone (no company, so
 *                      no slices) owns the drain: nobody else drains the
 *                      fd until it withdraws (XIO_SLEEPER_LONE)
 *   -DMUTANT_NO_COMPANY  (with POLLERS) no slices: a reader's drain takes the
 *                      writer's space doorbell and the checker must find it
 *   -DMUTANT_NO_LONE   (with POLLERS) anyone drains: a waiter that announced
 *                      alone and is on its way into poll() when a later one
 *                      drains sleeps for good; the checker must find it
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
 *   -DBOARD            SIMPLEX with the reader replaced by an epoll set on a
 *                      news board (stack/board.h, shim/epoll.c): the writer
 *                      posts news (news word 0 -> 1, the board bit, a look
 *                      at the board's sleepers, a doorbell if one sleeps);
 *                      the set takes the bit, clears the news word, looks at
 *                      the ring, keeps a ready item queued (level-triggered),
 *                      counts itself on the board before its last look and
 *                      sleeps in the kernel on the socket and its eventfd
 *   -DTHIEF            (with BOARD) plus a thread of the reader's process
 *                      in poll() on the same fd: it announces as poll does,
 *                      drains the doorbells, and then kicks the set's
 *                      eventfd if news is untaken and the set sleeps
 *                      (xio_board_after_drain)
 *   -DMUTANT_NO_KICK   (with THIEF) no kick: the checker must find the set
 *                      asleep with its doorbell taken
 *   -DMUTANT_NO_BOARD_RING  (with BOARD) a post never rings a sleeping set:
 *                      the checker must find the lost wake-up
 *   -DLATE_BOARD       (with BOARD) the connection joins the set, and the set
 *                      takes its board, while the set's thread may already
 *                      sleep (apache's listener thread, asleep on its
 *                      listening socket alone when a worker adds the first
 *                      keep-alive connection): until then no post, and the
 *                      set counts a sleeper on no board; the take counts the
 *                      set's sleepers on it (item_on_board), the add looks at
 *                      the ring and kicks the set if ready (join_sleepers)
 *   -DMUTANT_UNCOUNTED_SLEEPER  (with LATE_BOARD) the take does not count
 *                      them: the checker must find the set asleep with a
 *                      record posted (compat_apache2's hang)
 * Not modelled for the board: news of room (EPOLLOUT after a full ring,
 * xio_dir.space_watch), which follows the same post/take order.
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
bool shut_wr[2];		/* xio_dir.shut_wr: the producer of direction d sent its FIN */

/* ---- kernel: the AF_UNIX socket pair --------------------------------------- */
bool sock[2];			/* doorbell bytes queued on end e's fd (drain() takes all) */

byte sleepers[2];		/* xio_dir.sleepers of the direction end e reads: waiters on e's fd */
bool lone[2];			/* XIO_SLEEPER_LONE in it: a waiter announced alone, unsliced */

/* ---- the news board of end 1's epoll set (BOARD) --------------------------- */
bool news;			/* xio_dir.news of direction 0 (end 1 reads it) */
bool board_bit;			/* end 1's bit on the board (and its summary bit) */
byte board_sleepers;		/* xio_board.sleepers */
bool kick;			/* the set's eventfd (in its shadow epoll): signalled */
bool joined = true;		/* the item is in the set, its end claimed (LATE_BOARD: later) */
bool set_asleep;		/* the set's thread has announced its sleep (LATE_BOARD) */

/* ---- process-local (struct xio_conn of each end) --------------------------- */
bool peer_eof[2];		/* learned from shut_wr (xio_conn_check_abort) */
bool poller[2];			/* a thread of end e sleeps in poll() on its fd */
byte local_waiters[2];		/* threads of end e inside wait_for */
bool done_w[2], done_r[2];

#define room(d)		(CAP - count[d])
/* xio_conn_ready(): POLLIN when the ring has data or the FIN is in; POLLOUT at a third free */
#define ready_in(e)	(count[1 - (e)] > 0 || shut_wr[1 - (e)])
#define ready_out(e)	(room(e) * 3 >= CAP)
#define ready(e, ev)	(((ev) == IN && ready_in(e)) || ((ev) == OUT && ready_out(e)))
#define readable(e)	(sock[e])	/* poll(fd, POLLIN) */

/* bell_data() of end e after publishing into direction e: fence; if a reader
 * sleeps and no doorbell is pending (exchange 0 -> 1), one byte to the peer. */
inline bell_data(e)
{
#ifdef BOARD
	/* xio_board_post(): only the 0 -> 1 change of the news word posts */
	if
	:: e == 0 ->
		atomic {
			if
			:: joined && !news -> news = true; posted = true
			:: else -> skip
			fi
		};
		if
		:: posted ->
			board_bit = true;	/* then a full fence */
#ifndef MUTANT_NO_BOARD_RING
			ring = (board_sleepers > 0)
#else
			skip
#endif
		:: else -> skip
		fi;
		posted = false
	:: else -> skip
	fi;
#endif
	if
	:: readers_sleeping[e] > 0 || ring ->
		atomic { old = data_bell_pending[e]; data_bell_pending[e] = 1 };
		if
		:: old == 0 -> sock[1 - e] = true
		:: else -> skip
		fi;
		old = 0
	:: else -> skip
	fi;
	ring = false
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

/* drain(): under drain_lock, recv(MSG_DONTWAIT) of every queued byte; then
 * both pending flags of this end are cleared (data_bell_pending of the
 * direction it reads, space_bell_pending of the one it writes) and the
 * followers are woken (wake_seq++, broadcast). */
inline drain(e)
{
	sock[e] = false;
	data_bell_pending[1 - e] = 0;
	space_bell_pending[e] = 0
}

/* wait_for(c, fd, ev, -1): the blocking front-end (stack/conn.c) of the
 * readiness engine (stack/wait.c xio_wait): look; announce; sleep (under
 * wait_lock: look again, then become the poller or a follower); withdraw;
 * look, and round again. Followers wait on the condition variable with a
 * 100 ms timeout, so the model lets them re-check at any time. The spin is
 * more looks of the same kind as the first. */
inline wait_for(e, ev)
{
	do
	:: ready(e, ev) -> break	/* xio_wait: scan (the spin too) */
	:: else ->
		/* cw_announce: xio_conn_wait_prepare() (counters up, fence), local_waiters++,
		 * and the company test for the slices. One step: the peer reads only
		 * readers_sleeping/writers_waiting; the split steps of the C code only
		 * let another thread of this end see company a moment early (a
		 * timeout more, never a wake-up less). */
		atomic {
			sleepers[e]++;
			if
			:: ev == IN -> readers_sleeping[1 - e]++
			:: else -> writers_waiting[e]++
			fi;
			local_waiters[e]++;
#ifndef POLLERS
			foreign = (sleepers[e] > local_waiters[e])
#else
			/* xio_conn_wait_prepare(): the first sleeper marks itself lone */
			if
			:: sleepers[e] == 1 -> lone[e] = true; amlone = true
			:: else -> skip
			fi;
#ifndef MUTANT_NO_COMPANY
			foreign = (sleepers[e] > 1)	/* xio_conn_has_company(): poll and epoll */
#endif
#endif
		};
		/* cw_sleep, under wait_lock: look again (what came before the announcement
		 * rings no doorbell), then become the poller or a follower. One step: the
		 * other threads of this end change poller only under the same lock, and
		 * the peer's moves commute with these local ones. */
		atomic {
			if
#ifndef MUTANT_NO_RECHECK
			:: ready(e, ev) -> role = 0
#else
			/* the mutant sleeps once without looking after it announced */
			:: checked && ready(e, ev) -> role = 0
#endif
			:: else ->
#ifdef MUTANT_NO_RECHECK
				checked = true;
#endif
#ifndef POLLERS
				if
				:: !poller[e] -> poller[e] = true; role = 1
				:: else -> role = 2	/* follower: woken by a drain, or after 100 ms */
				fi
#else
				role = 1	/* poll and epoll: every waiter sleeps in the kernel */
#endif
			fi
		};
		if
		:: role == 1 ->
			/* a doorbell flag set with no byte in the socket is stale: clear it, look */
			if
			:: (data_bell_pending[1 - e] || space_bell_pending[e]) && !readable(e) ->
				data_bell_pending[1 - e] = 0;
				space_bell_pending[e] = 0;
				if
				:: ready(e, ev) -> role = 3	/* no poll() */
				:: else -> skip
				fi
			:: else -> skip
			fi;
			if
			:: role == 3 -> skip
			:: else ->
				if
#if defined(POLLERS) && !defined(MUTANT_NO_LONE)
				/* poll() returned the fd; the doorbell is the lone waiter's to take */
				:: readable(e) && (!lone[e] || amlone) -> drain(e)
				:: readable(e) && lone[e] && !amlone -> skip
#else
				:: readable(e) -> drain(e)	/* poll() returned the fd */
#endif
				:: foreign -> skip		/* the 5 ms slice ran out */
				fi
			fi;
			poller[e] = false		/* under wait_lock: wake_seq++, broadcast */
		:: else -> skip
		fi;
		role = 0;
		foreign = false;
		/* cw_finish: local_waiters--, xio_conn_wait_finish(c, -1, ev): counters
		 * down, own flag cleared, no drain */
		local_waiters[e]--;
		/* one atomic subtraction in the C code: the count and, if ours, the lone bit */
		atomic {
			sleepers[e]--;
			if
			:: amlone -> lone[e] = false; amlone = false
			:: else -> skip
			fi
		};
		if
		:: ev == IN -> readers_sleeping[1 - e]--
		:: else -> writers_waiting[e]--
		fi;
		/* then the own flag cleared (a doorbell may come again) */
		if
		:: ev == IN -> data_bell_pending[1 - e] = 0
		:: else -> space_bell_pending[e] = 0
		fi
	od;
#ifdef MUTANT_NO_RECHECK
	checked = false
#else
	skip
#endif
}

/* xio_conn_send of N one-record writes, then shutdown(SHUT_WR). */
proctype writer(byte e)
{
	byte old, role;
	bool foreign, checked, amlone, posted, ring;

	do
	:: pub[e] == NREC(e) -> break
	:: pub[e] < NREC(e) ->
		/* check_peer(): at most once a ms, poll(fd, POLLRDHUP, 0); drains only on
		 * RDHUP/HUP, which only the peer's close gives (not modelled) */
		if
#ifdef MUTANT_CHECK_PEER
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
	/* shutdown(SHUT_WR): the FIN after the last record, then a doorbell as for data */
	shut_wr[e] = true;
	bell_data(e);
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

#ifdef BOARD
/*
 * epoll_wait's harvest and look (collect_board): take the board's bit, clear
 * the news word (then a fence), queue the item; look at a queued item: ready
 * is reported and stays queued (level-triggered), not ready leaves the queue.
 */
inline look()
{
	atomic {
		if
		:: board_bit -> board_bit = false; news = false; queued = true
		:: else -> skip
		fi
	};
	atomic {
		if
		:: !joined -> skip	/* not in the set yet: its first look is still to come */
		:: joined && queued && ready_in(e) -> got = true
		:: joined && queued && !ready_in(e) -> queued = false
		:: else -> skip
		fi
	}
}

/*
 * End e's epoll set on its news board: epoll_wait (xio_wait: look; count
 * the sleep on the board, look again; sleep in the kernel on the shadow's
 * socket and the eventfd; withdraw, drain what the shadow reported, look),
 * then read every record there is, as the manyconn server does.
 */
proctype epreader(byte e)
{
	byte old;
	bool got, queued = true;	/* a new item is queued for its first look */

	do
	:: got ->
		got = false;
		do
		:: count[1 - e] > 0 ->
			d_step { count[1 - e]--; cons[1 - e]++ };
			bell_space(e)
		:: else -> break
		od;
		if
		:: shut_wr[1 - e] -> peer_eof[e] = true
		:: else -> skip
		fi;
		if
		:: peer_eof[e] && count[1 - e] == 0 -> break	/* EOF */
		:: else -> skip
		fi
	:: !got ->
		look();
		if
		:: !got ->
			/* ew_announce: xio_board_sleep(), a full fence; no board yet: none */
			atomic {
				set_asleep = true;
				if
				:: joined -> board_sleepers++
				:: else -> skip
				fi
			};
			look();
			if
			:: !got ->
				/* the kernel wait: the shadow's socket readable, or the eventfd */
				if
				:: readable(e) -> skip
				:: kick -> skip
				fi
			:: else -> skip
			fi;
			/* ew_finish: withdraw (the board's count if there is a board), then filter_kernel */
			atomic {
				set_asleep = false;
				if
				:: joined && board_sleepers > 0 -> board_sleepers--
				:: else -> skip
				fi
			};
			if
			:: readable(e) && !lone[e] -> drain(e); queued = true
			:: readable(e) && lone[e] -> queued = true	/* the lone waiter's to take */
			:: else -> skip
			fi;
			kick = false;
			look()
		:: else -> skip
		fi
	od;
	assert(cons[1 - e] == NREC(1 - e) && pub[1 - e] == NREC(1 - e));
	done_r[e] = true
}

#ifdef LATE_BOARD
/*
 * A worker thread adds the connection (epoll_ctl ADD, under the set's lock):
 * the set takes its board and claims the end (news cleared, a full fence),
 * counts the set's sleepers on the board (item_on_board), then looks at the
 * ring and kicks the set's eventfd if the item is ready (join_sleepers).
 */
proctype adder()
{
	atomic {
		joined = true;
		news = false;
#ifndef MUTANT_UNCOUNTED_SLEEPER
		if
		:: set_asleep -> board_sleepers++
		:: else -> skip
		fi
#endif
	};
	if
	:: set_asleep && ready_in(1) -> kick = true
	:: else -> skip
	fi
}
#endif

#ifdef THIEF
/*
 * Another thread of the set's process in poll(fd, POLLIN) on the same socket
 * (the poll front-end: announce, look, sleep in the kernel, drain, withdraw):
 * it takes doorbells the set may be waiting for, and drain() kicks the set.
 */
proctype thief(byte e)
{
	bool tlone;

	do
	:: done_r[e] -> break
	:: !done_r[e] ->
		atomic {
			sleepers[e]++;
			readers_sleeping[1 - e]++;
			if
			:: sleepers[e] == 1 -> lone[e] = true; tlone = true
			:: else -> skip
			fi
		};
		/* ready at once (then the kernel merge, timeout 0), or asleep until readable */
		if
		:: ready_in(e) -> skip
		:: readable(e) -> skip
		:: done_r[e] -> skip
		fi;
		/* the finish drains what the kernel reported readable */
		if
		:: readable(e) && (!lone[e] || tlone) ->
			drain(e);
#ifndef MUTANT_NO_KICK
			/* xio_board_after_drain(): news untaken and the set asleep */
			if
			:: news && board_sleepers > 0 -> kick = true
			:: else -> skip
			fi
#else
			skip
#endif
		:: else -> skip
		fi;
		atomic {
			sleepers[e]--;
			readers_sleeping[1 - e]--;
			if
			:: tlone -> lone[e] = false; tlone = false
			:: else -> skip
			fi
		};
		data_bell_pending[1 - e] = 0
	od
}
#endif
#endif

/* xio_conn_recv of one record at a time until EOF. */
proctype reader(byte e)
{
	byte old, role;
	bool foreign, checked, amlone;

	do
	:: count[1 - e] > 0 ->
		/* xio_ring_get() consumed a record (cons tail store) */
		d_step { count[1 - e]--; cons[1 - e]++ };
		bell_space(e)
	:: count[1 - e] == 0 ->
		/* xio_conn_check_abort() (recv's start, xio_conn_ready in wait_for) */
		if
		:: shut_wr[1 - e] -> peer_eof[e] = true
		:: else -> skip
		fi;
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
#elif defined(BOARD)
		run writer(0);
		run epreader(1);
#ifdef LATE_BOARD
		joined = false;
		run adder();
#endif
#ifdef THIEF
		run thief(1);
#endif
		pub[1] = N; cons[1] = N; done_w[1] = true; done_r[0] = true;
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

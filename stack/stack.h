/* SPDX-License-Identifier: MIT */
/*
 * libxio: the user-space stack. Knows nothing about libc interposition: the
 * shim classifies a call, hands it here with the application's fd, and turns
 * the negative errno we return into errno.
 *
 * Return conventions: >= 0 success, negative errno on failure, and
 * XIO_NOT_CARRIED (1) from connect/listen when the call is not one X-IO
 * carries and the caller must let the kernel do it.
 */
#ifndef XIO_STACK_H
#define XIO_STACK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>

#include "layout.h"

#define XIO_NOT_CARRIED 1
/* connect: X-IO made the kernel TCP connect itself (pair.c); it succeeded, or failed with errno. */
#define XIO_TCP_CONNECTED 2
#define XIO_TCP_FAILED	  3

#define XIO_DOMAIN_MAX	   32
#define XIO_DEFAULT_DOMAIN "xio"

/*
 * Is @d a domain name: [A-Za-z0-9_.-]{1,32}, and neither "." nor ".." (a
 * domain is a directory of the run directory)? The one rule of the library,
 * xio-run, the manager and xio-stat.
 */
bool xio_domain_name_ok(const char *d);

/* That rule in the words of the messages that refuse a name. */
#define XIO_DOMAIN_RULE "[A-Za-z0-9_.-]{1,32}, not . or .."

struct xio_config {
	bool disabled;	   /* XIO_DISABLE=1 */
	bool no_fallback;  /* XIO_NO_FALLBACK=1: connect fails instead of TCP */
	int spin_us;	   /* XIO_SPIN_US, -1 = default */
	int spin_adapt_us; /* XIO_SPIN_ADAPT_US, -1 = default */
	long pair_wait_us; /* XIO_PAIR_WAIT_US, -1 = default (pair.c) */
	int pair_spin_us;  /* XIO_PAIR_SPIN_US, -1 = default (pair.c) */
	int log;	   /* XIO_LOG level, 0 = silent */
	char domain[64];   /* XIO_DOMAIN, default "xio" */
	char rundir[200];  /* XIO_RUNDIR, default "/run/xio" */
};

/*
 * Where domains live: $XIO_RUNDIR; else /run/xio for root or whoever may
 * write there, or when /run/xio/<domain>/control is writable (a root manager
 * shared with --group); else $XDG_RUNTIME_DIR/xio; else /tmp/xio-<uid>.
 * Manager, xio-stat, xio-run and the shim all use this one rule.
 * Returns 0 or -ENAMETOOLONG.
 */
int xio_default_rundir(const char *domain, char *buf, size_t len);

/* From now on carry nothing new, as XIO_DISABLE=1 would (a sandboxed process). */
void xio_config_disable(void);

/* Configuration read once from the environment (secure_getenv). */
const struct xio_config *xio_config(void);

/* Log to stderr only when XIO_LOG is set (log.c: the one line format of every X-IO program). */
void xio_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The same line whatever XIO_LOG says: for loading the configuration that decides it. */
void xio_log_unchecked(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "<who>: <message>\n" on stderr in one raw write (the manager's lines are "xio-manager: ..."). */
void xio_log_vline(const char *who, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * That line in @buf of @len >= 2 bytes, cut to fit but always ending in a
 * newline (and a NUL after it). Returns its length without the NUL.
 */
size_t xio_log_format(char *buf, size_t len, const char *who, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Count a fallback to kernel TCP in the domain's stats (if attached). */
void xio_count_fallback(enum xio_fallback why);
/* The same, attaching first if need be: for a listener X-IO declines before attaching. */
void xio_count_decline(enum xio_fallback why);
/*
 * Tell the manager on <domain>.denied that we may not join (@why is one of
 * the two no_domain_access reasons): for a process whose own mapping is of
 * a generation the manager's xio-stat no longer reads.
 */
void xio_report_denied(enum xio_fallback why);

struct xio_conn;
struct xio_listener;

/* ---- listeners ---------------------------------------------------- */

/*
 * Publish a rendezvous for the kernel TCP listener @fd (after the real
 * listen() succeeded). Returns 0 with *@out set, or XIO_NOT_CARRIED.
 */
int xio_listener_open(int fd, struct xio_listener **out);

/*
 * TCP listener @tcp is about to go to a program that accepts from the TCP
 * socket only (exec; dovecot's imap-login, postfix's smtpd): remove its
 * rendezvous, so that new clients use TCP, and turn away queued offers.
 */
void xio_listener_withdraw(struct xio_listener *l, int tcp);
/*
 * The fd the shim must watch next to the TCP listener in poll/epoll (an
 * epoll set of this process, the same whether TCP_DEFER_ACCEPT is set or
 * not): readable when an X-IO connection may be acceptable.
 */
int xio_listener_helper_fd(struct xio_listener *l);
/*
 * The fd of xio_listener_helper_fd() was readable: is an X-IO connection
 * acceptable from @l (app fd @fd)? False while TCP_DEFER_ACCEPT holds back
 * every connection that arrived (no bytes yet, time not over).
 */
bool xio_listener_acceptable(struct xio_listener *l, int fd);
/* TCP_DEFER_ACCEPT was set or cleared on @fd, a TCP listener of @l. */
void xio_listener_defer_changed(struct xio_listener *l, int fd);

/*
 * Accept one connection, X-IO or TCP, from listener @l on app fd @fd.
 * Flags as accept4. Returns the new fd or -errno; *@conn is set when the
 * new fd is an X-IO connection (one reference owned by the caller).
 */
int xio_listener_accept(struct xio_listener *l, int fd, struct sockaddr *sa, socklen_t *len,
			int flags, bool nonblock, struct xio_conn **conn);

void xio_listener_get(struct xio_listener *l);
/*
 * Drop a reference; the last one closes the helper listener and, if the
 * application closed the listener (xio_listener_closing) while connections
 * accepted from it live, keeps its port bound for them.
 */
void xio_listener_put(struct xio_listener *l);

/*
 * The application is about to close @fd, an fd of @l, in the kernel (close,
 * dup2 over it, close_range): note its SO_REUSEADDR and SO_REUSEPORT now.
 * The caller drops its reference only after the kernel close: the last
 * reference binds the port holder, which can succeed only then.
 */
void xio_listener_closing(struct xio_listener *l, int fd);

/* ---- connections -------------------------------------------------- */

/*
 * Try to carry connect(@fd, @sa) over X-IO. On success @fd has been
 * replaced (dup3) by the AF_UNIX end of the new connection, *@out holds it
 * and *@nonblock says whether @fd is O_NONBLOCK. @known, if not NULL, holds
 * the options of @fd that a connection carries over (else they are read from
 * the kernel). Returns 0, XIO_NOT_CARRIED (caller connects over TCP) or
 * -errno (only when fallback is disabled).
 */
struct xio_sock_opts {
	int nodelay, keepalive;
	struct timeval rcvtimeo, sndtimeo;
	int family;   /* AF_INET or AF_INET6 */
	bool unbound; /* never bound: getsockname would say the wildcard, port 0 */
};
int xio_conn_connect(int fd, const struct sockaddr *sa, socklen_t len,
		     const struct xio_sock_opts *known, struct xio_conn **out, bool *nonblock);

/*
 * Is @fd, unknown to this process's tables, an X-IO connection (inherited
 * through exec or received over SCM_RIGHTS)? Returns 0 with *@out set, or
 * XIO_NOT_CARRIED.
 */
int xio_conn_adopt(int fd, struct xio_conn **out);

ssize_t xio_conn_recv(struct xio_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
		      bool nonblock);
ssize_t xio_conn_send(struct xio_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
		      bool nonblock);
int xio_conn_shutdown(struct xio_conn *c, int fd, int how);

/* poll(2) bits from ring state and what the kernel told us so far. */
unsigned xio_conn_ready(struct xio_conn *c);
/*
 * The same for a caller that wants @events only: POLLOUT (and the send
 * ring's shared lines) is left out unless asked, which a set of thousands
 * of readers notices. Other bits may be set beyond @events.
 */
unsigned xio_conn_ready_for(struct xio_conn *c, unsigned events);
/*
 * Start loading the shared lines a look at @c's receive side reads (its
 * direction's FIN/reset line, the rx ring's header, producer and consumer
 * lines), and for writing those the read and an answer write: a set about
 * to look at many connections issues these first, so the misses overlap
 * instead of coming one after the other.
 */
void xio_conn_prefetch(const struct xio_conn *c);
/* @fd is one of this process's fds on @c: a demoted connection's readiness asks its socket. */
void xio_conn_note_fd(struct xio_conn *c, int fd);

/* Demoted to a plain byte stream on its AF_UNIX socket: the kernel knows its readiness. */
bool xio_conn_is_demoted(struct xio_conn *c);

/*
 * Demoted, and nothing of the switch is left at this end: our doorbells are
 * skipped, the peer's send ring is copied in-band (or was ours to copy and
 * is), our receive ring is empty, the demotion did not fail. From then on
 * the connection's readiness is the socket's alone and never changes back:
 * a poller may watch the fd as a plain kernel fd (shim/epoll.c, shim/poll.c).
 * One load once true.
 */
bool xio_conn_plain(struct xio_conn *c);

/*
 * Has an end of this demoted connection sent urgent data through X-IO? Then
 * readiness must be corrected as tcp_poll does (a lone urgent byte is not
 * POLLIN on TCP, is on AF_UNIX), and the kernel cannot watch it alone. A
 * program that is not preloaded (Go under the supervisor) sends it unseen.
 */
bool xio_conn_urgent(struct xio_conn *c);

/*
 * Wait until @events (POLLIN/POLLOUT) may be ready, @timeout_ms passes (-1:
 * forever) or a signal arrives: 0, -EAGAIN or -EINTR. Threads waiting on
 * one connection share its doorbells (leader/follower), so poll() of a
 * single X-IO fd uses this rather than sleeping on the socket itself.
 */
int xio_conn_wait(struct xio_conn *c, int fd, unsigned events, int timeout_ms);

/*
 * Announce that we are about to sleep waiting for @events (POLLIN/POLLOUT).
 * True: we announced alone (no company, so the engine sleeps without
 * slices), and until we withdraw nobody else drains the socket: a later
 * waiter's drain could take the doorbell we are about to sleep on. Pass it
 * back to xio_conn_wait_finish and, while announced, to xio_conn_drain.
 */
bool xio_conn_wait_prepare(struct xio_conn *c, unsigned events);
/*
 * After waking (or giving up): withdraw the announcement (@lone: what
 * prepare returned) and consume doorbells on @fd (pass -1 when the kernel
 * said nothing arrived there).
 */
void xio_conn_wait_finish(struct xio_conn *c, int fd, unsigned events, bool lone);

/*
 * Counters for edge-triggered epoll: @in_seq moves on every arrival (EOF
 * included), @nospace_seq on every send that found the ring full (after
 * which the kernel gives one EPOLLOUT edge once room appears).
 */
void xio_conn_edges(struct xio_conn *c, uint32_t *in_seq, uint32_t *nospace_seq);

/* Bytes waiting to be read (FIONREAD) / not yet read by the peer (SIOCOUTQ). */
/* Our socket reads EOF: the peer's end is closed (a FIN alone travels in the slot). */
bool xio_conn_sock_eof(struct xio_conn *c);
int xio_conn_inq(struct xio_conn *c);
int xio_conn_outq(struct xio_conn *c);
/* SIOCATMARK: 1 at the urgent mark, 0 before it (always, unless demoted: urgent data), -errno. */
int xio_conn_atmark(struct xio_conn *c, int fd);

/* getsockname/getpeername as TCP would answer, in the family @family the app used. */
int xio_conn_name(struct xio_conn *c, bool peer, struct sockaddr *sa, socklen_t *len);
int xio_conn_family(const struct xio_conn *c);

/* TCP-level and socket-level options answered for an X-IO connection. */
int xio_conn_getsockopt(struct xio_conn *c, int fd, int level, int name, void *val, socklen_t *len);
int xio_conn_setsockopt(struct xio_conn *c, int fd, int level, int name, const void *val,
			socklen_t len);

void xio_conn_get(struct xio_conn *c);
void xio_conn_put(struct xio_conn *c);

/*
 * SO_LINGER {1, 0} was set and the last fd of this process is being closed:
 * reset the peer (ECONNRESET there) instead of an orderly EOF.
 */
bool xio_conn_linger_abort(const struct xio_conn *c);
void xio_conn_abort(struct xio_conn *c, int fd);

/* Ring the doorbell a corked (TCP_CORK/MSG_MORE) sender deferred: the kernel pushes on uncork. */
void xio_conn_push(struct xio_conn *c, int fd);

/* A non-blocking connect answered EINPROGRESS; the next connect() reports 0 once. */
void xio_conn_set_connect_pending(struct xio_conn *c);
bool xio_conn_take_connect_pending(struct xio_conn *c);

/*
 * Consume doorbells on @fd and re-arm them (a shadow epoll saw the fd
 * readable), unless a lone waiter other than the caller (@lone: the caller
 * is, or acts for, that waiter) owns the drain: then the bytes stay for it.
 */
void xio_conn_drain(struct xio_conn *c, int fd, bool lone);

/*
 * A nested epoll set holds @c: ask the peer for a doorbell on every arrival,
 * so that the set's own kernel readiness follows the ring.
 */
void xio_conn_watch(struct xio_conn *c, bool on);

/*
 * How many fds of this process refer to @c (the shim keeps count): epoll
 * registrations live as long as the file does, not the fd number.
 */
void xio_conn_fd_count(struct xio_conn *c, int delta);
bool xio_conn_fd_open(struct xio_conn *c);
bool xio_conn_fd_shared(struct xio_conn *c); /* more than one fd here */

/*
 * After xio_conn_wait_prepare: does another waiter (thread or process) sleep
 * on this connection too? One doorbell wakes every poller of the socket, but
 * the first to drain it can leave a later sleeper without one, so waiters
 * with company sleep in short slices.
 */
bool xio_conn_has_company(struct xio_conn *c);

/* Waiters asleep on our end's socket right now, in any process. */
unsigned xio_conn_waiters(struct xio_conn *c);

/*
 * Descriptors X-IO keeps inside the application (helperfd.c): registered by
 * their owner, protected by the shim from close/close_range/closefrom.
 */
void xio_helper_fd(int fd, bool add);
bool xio_is_helper_fd(int fd);
/* Copy the registered helper fds into @out (at most @max); returns how many. */
int xio_helper_fds(int *out, int max);
/*
 * Move @fd to a close-on-exec number at 3/4 of RLIMIT_NOFILE or above (not
 * registered); returns the new fd, or @fd itself when there is no room.
 */
int xio_fd_move_high(int fd);
/* A close-on-exec duplicate of @fd at or above 3/4 of RLIMIT_NOFILE, or -1 (errno). */
int xio_fd_dup_high(int fd);

/* After EINTR in a blocking socket call: should it restart (SA_RESTART)? (signals.c) */
bool xio_signal_restarts(void);

/* Spin budget for waits, microseconds (XIO_SPIN_US or the measured default). */
int xio_spin_us(void);

/*
 * The most the adaptive spin of the native API's waits for data grows to, in
 * us (XIO_SPIN_ADAPT_US, default 200; 0: no adaptive spin). See wait.h.
 */
int xio_spin_adapt_cap_us(void);

/* The spin budget for waiting on @c: 0 while its peer last ran on our CPU. */
int xio_conn_spin_us(struct xio_conn *c);

/*
 * epoll news boards (stack/board.h has the protocol), for shim/epoll.c: a
 * set takes a board of its connections' domain, claims each connection's
 * end for it, and reads only the ends with news.
 */
struct xio_domain;
struct xio_domain *xio_conn_domain(struct xio_conn *c);
/* Bits of a board of @d (2 per slot); 0: the domain has no boards. */
uint32_t xio_board_nbits(const struct xio_domain *d);
int xio_board_take(struct xio_domain *d);
void xio_board_give(struct xio_domain *d, uint32_t i);
bool xio_board_claim(struct xio_conn *c, uint32_t i);
void xio_board_release(struct xio_conn *c, uint32_t i);
/* The board bit of @c's own end. */
uint32_t xio_conn_board_bit(struct xio_conn *c);
void xio_board_news_taken(struct xio_conn *c);
void xio_board_harvest(struct xio_domain *d, uint32_t i, uint32_t *from,
		       void (*fn)(uint32_t bit, void *arg), void *arg);
void xio_board_sleep(struct xio_domain *d, uint32_t i, bool on);
bool xio_board_watch_space(struct xio_conn *c);
void xio_board_set_kick(void (*kick)(uint32_t board));

/*
 * Liveness clocks (conn.c): an epoll set that looked at every socket it
 * watches in the kernel (and drained what reported a close) at time T marks
 * its clock T; a send on a connection it watches then needs no poll() of
 * its own to learn that the peer is gone (xio_conn_check_peer) until a
 * millisecond after T. -1 when all are taken.
 */
int xio_cover_take(void);
void xio_cover_give(int clock);
void xio_cover_mark(int clock, uint64_t us);
/* @c is watched by the set of @clock (-1: no longer by @old). */
void xio_conn_set_cover(struct xio_conn *c, int clock, int old);

#endif

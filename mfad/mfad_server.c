#include "config.h"

#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "mfad_clock.h"
#include "mfad_log.h"
#include "mfad_notify.h"
#include "mfad_pool.h"
#include "mfad_pw.h"
#include "mfad_render.h"
#include "mfad_server.h"
#include "mfad_snap.h"
#include "mss_err.h"
#include "mss_io.h"
#include "mss_proto.h"

#define MFAD_IO_DEADLINE_MS	5000	/* a whole request, or a reply */
#define MFAD_SWEEP_SECS		60

/*
 * Connection limits. The table is sized from the open-file limit (raised
 * to its hard limit at start), less MFAD_FD_RESERVE descriptors for the
 * store, the log, the relay and backups. A caller that is neither a
 * trusted PAM caller nor an admin may hold MFAD_UID_CONNS connections and
 * have MFAD_UID_BUSY requests in flight; such callers together may use
 * only MFAD_UNPRIV_SHARE of the table, so that sshd's PAM and admins
 * always find a free slot.
 */
#define MFAD_CONN_MIN		16
#define MFAD_CONN_CAP		65536
#define MFAD_FD_RESERVE		64
#define MFAD_UID_CONNS		32
#define MFAD_UID_BUSY		8
#define MFAD_UNPRIV_SHARE(n)	((n) - (n) / 4)
#define MFAD_ACCEPT_BATCH	64	/* accepts between two polls */
#define MFAD_ACCEPT_PAUSE_MS	100	/* out of descriptors: a rest */
#define MFAD_LOG_EVERY		60	/* seconds between two lines */

/* Lines a flood repeats: one a minute, with a count. */
static struct mfad_log_limit mfad_lim_full =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);
static struct mfad_log_limit mfad_lim_share =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);
static struct mfad_log_limit mfad_lim_uid =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);
static struct mfad_log_limit mfad_lim_nofile =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);
static struct mfad_log_limit mfad_lim_accept =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);
static struct mfad_log_limit mfad_lim_timeout =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);
static struct mfad_log_limit mfad_lim_bad =
    MFAD_LOG_LIMIT_INIT(MFAD_LOG_EVERY);

/* Connections */

enum mfad_conn_state {
	MFAD_CONN_FREE = 0,
	MFAD_CONN_READ,
	MFAD_CONN_BUSY,		/* a worker has the request */
	MFAD_CONN_WRITE,
};

struct mfad_conn {
	int			 fd;
	uint64_t		 gen;
	enum mfad_conn_state	 state;
	unsigned char		 hdr[MSS_FRAME_HDR];
	size_t			 hdr_got;
	uint8_t			 type;
	uint32_t		 len;
	struct mss_buf		*in;
	struct mss_buf		*out;
	long long		 deadline;
	struct mfad_peer	 peer;
	int			 fds[MSS_BACKUP_FDS];	/* came with the frame */
	int			 nfds;
	int			 uidx;	/* in uids[]; -1: trusted */
};

static void
mfad_close_fds(int *fds, int *nfds)
{
	int i;

	for (i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
}

int
mfad_server_listen(const char *path, uid_t owner, int *fdp)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd, probe;

	*fdp = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path) || path[0] != '/')
		return MSS_ERR_INVAL;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* Probe: another mfad answering there must not lose its socket. */
	if ((probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return MSS_ERR_SYSTEM;
	if (connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(probe);
		mfad_log(LOG_ERR, "%s: another mfad is running", path);
		return MSS_ERR_EXISTS;
	}
	close(probe);
	if (unlink(path) != 0 && errno != ENOENT) {
		mfad_log(LOG_ERR, "%s: cannot remove: %s", path,
		    strerror(errno));
		return MSS_ERR_SYSTEM;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) < 0)
		return MSS_ERR_SYSTEM;
	old = umask(0111);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		umask(old);
		mfad_log(LOG_ERR, "%s: cannot bind: %s", path, strerror(errno));
		close(fd);
		return MSS_ERR_SYSTEM;
	}
	umask(old);
	/* Everyone may connect; each request is checked against its peer. */
	if (chmod(path, 0666) != 0 ||
	    (owner != (uid_t)-1 && chown(path, owner, (gid_t)-1) != 0) ||
	    listen(fd, SOMAXCONN) != 0) {
		mfad_log(LOG_ERR, "%s: %s", path, strerror(errno));
		close(fd);
		return MSS_ERR_SYSTEM;
	}
	*fdp = fd;
	return 0;
}

/*
 * The event loop's connections: a table sized at start, a stack of its
 * free slots, and for callers that are not trusted, what each uid holds
 * (a hash of uid entries, each alive while the uid has a connection).
 */
struct mfad_uid_ent {
	uid_t		uid;
	unsigned	conns;
	unsigned	busy;		/* requests in flight */
	int		next;		/* in its bucket or free list, + 1 */
};

struct mfad_srv {
	struct mfad_ctx		*ctx;
	struct mfad_pool	*pool;
	struct mfad_conn	*conns;
	size_t			 nconns;
	size_t			*freev;		/* slots freed */
	size_t			 nfree;
	size_t			 fresh;	/* no slot ever used at or above */
	size_t			 hi;	/* no slot in use at or above */
	size_t			 unpriv, unpriv_max;
	struct mfad_uid_ent	*uids;		/* nconns entries */
	int			*buckets;	/* entry + 1; 0: none */
	size_t			 nbuckets;	/* a power of two */
	int			 ufree;		/* entry + 1; 0: none */
	size_t			 ufresh; /* no entry ever used at or above */
	int			 spare;	/* given up on EMFILE */
	long long		 accept_after;	/* no accept before */
};

static int *
mfad_uid_bucket(struct mfad_srv *s, uid_t uid)
{
	return &s->buckets[((uint32_t)uid * 2654435761U) &
	    (s->nbuckets - 1)];
}

/* The entry of uid, made (with no connection) if it has none; -1 when
 * none is left, which the table's size rules out. */
static int MSS_WUR
mfad_uid_get(struct mfad_srv *s, uid_t uid)
{
	int *b = mfad_uid_bucket(s, uid), i;

	for (i = *b - 1; i >= 0; i = s->uids[i].next - 1)
		if (s->uids[i].uid == uid)
			return i;
	if (s->ufree > 0) {
		i = s->ufree - 1;
		s->ufree = s->uids[i].next;
	} else if (s->ufresh < s->nconns)
		i = (int)s->ufresh++;
	else
		return -1;
	s->uids[i].uid = uid;
	s->uids[i].conns = s->uids[i].busy = 0;
	s->uids[i].next = *b;
	*b = i + 1;
	return i;
}

/* Drops entry i once its uid holds nothing. */
static void
mfad_uid_drop_idle(struct mfad_srv *s, int i)
{
	int *pp;

	if (s->uids[i].conns > 0)
		return;
	for (pp = mfad_uid_bucket(s, s->uids[i].uid); *pp != i + 1;
	    pp = &s->uids[*pp - 1].next)
		;
	*pp = s->uids[i].next;
	s->uids[i].next = s->ufree;
	s->ufree = i + 1;
}

static int
mfad_peer_trusted(const struct mfad_peer *p)
{
	return (p->roles & (MFAD_ROLE_PAM | MFAD_ROLE_ADMIN)) != 0;
}

/* Leaves MFAD_CONN_BUSY: the request is no longer in flight. */
static void
mfad_conn_unbusy(struct mfad_srv *s, struct mfad_conn *c)
{
	if (c->state == MFAD_CONN_BUSY && c->uidx >= 0)
		s->uids[c->uidx].busy--;
}

static void
mfad_conn_close(struct mfad_srv *s, struct mfad_conn *c)
{
	mfad_conn_unbusy(s, c);
	mfad_close_fds(c->fds, &c->nfds);
	if (c->fd >= 0)
		close(c->fd);
	mss_buf_free(c->in);
	mss_buf_free(c->out);
	c->in = c->out = NULL;
	c->fd = -1;
	if (c->uidx >= 0) {
		s->uids[c->uidx].conns--;
		mfad_uid_drop_idle(s, c->uidx);
		s->unpriv--;
		c->uidx = -1;
	}
	if (c->state != MFAD_CONN_FREE)
		s->freev[s->nfree++] = (size_t)(c - s->conns);
	c->state = MFAD_CONN_FREE;
	c->gen++;
	while (s->hi > 0 && s->conns[s->hi - 1].state == MFAD_CONN_FREE)
		s->hi--;
}

/*
 * recv for a request's bytes that also takes the descriptors sent with
 * them (SCM_RIGHTS, close-on-exec), up to MSS_BACKUP_FDS a frame. More
 * than that, or anything else in the control data, fails (-1, EPROTO):
 * what the kernel could not hand over it has closed already.
 */
static ssize_t MSS_WUR
mfad_conn_recv(struct mfad_conn *c, struct iovec *iov, int iovcnt)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * MSS_BACKUP_FDS)];
	} cbuf;
	struct msghdr msg;
	struct cmsghdr *cm;
	ssize_t n;
	size_t k, i;
	int bad = 0, fd;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)iovcnt;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	if ((n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC)) < 0)
		return n;
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL;
	    cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS) {
			bad = 1;
			continue;
		}
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			    sizeof(fd));
			if (c->nfds < MSS_BACKUP_FDS)
				c->fds[c->nfds++] = fd;
			else {
				close(fd);
				bad = 1;
			}
		}
	}
	if (bad || (msg.msg_flags & MSG_CTRUNC)) {
		mfad_log_limited(&mfad_lim_bad, LOG_NOTICE, "uid %u sent "
		    "descriptors mfad does not take: dropped",
		    (unsigned)c->peer.uid);
		errno = EPROTO;
		return -1;
	}
	return n;
}

/*
 * The header is in: checks it, makes the request's buffer and moves into
 * it the got bytes read after the header (ahead). 0, or -1 when the
 * connection must be dropped.
 */
static int
mfad_conn_begin(struct mfad_conn *c, const unsigned char *ahead, size_t got)
{
	/* Bound checked before any allocation. */
	if (mss_frame_header(c->hdr, &c->type, &c->len) != 0) {
		mfad_log_limited(&mfad_lim_bad, LOG_NOTICE, "bad frame from "
		    "uid %u: dropped", (unsigned)c->peer.uid);
		return -1;
	}
	if ((c->in = mss_buf_new(c->len)) == NULL)
		return -1;
	if (got > c->len)
		got = c->len;
	if (got > 0 && mss_buf_put(c->in, ahead, got) != 0)
		return -1;
	return 0;
}

/*
 * Reads what is there; a complete request goes to the pool. The header
 * is read together with what follows it: a client writes its frame at
 * once, so one system call usually takes the whole request. Bytes past
 * the frame are dropped, as a connection carries one request.
 */
static void
mfad_conn_read(struct mfad_srv *s, struct mfad_conn *c)
{
	unsigned char ahead[MSS_READ_AHEAD];
	struct iovec iov[2];
	struct mfad_job *j;
	unsigned char *dst;
	ssize_t n;
	size_t want, got;
	int r;

	for (;;) {
		if (c->hdr_got < MSS_FRAME_HDR) {
			iov[0].iov_base = c->hdr + c->hdr_got;
			iov[0].iov_len = MSS_FRAME_HDR - c->hdr_got;
			iov[1].iov_base = ahead;
			iov[1].iov_len = sizeof(ahead);
			n = mfad_conn_recv(c, iov, 2);
			if (n > 0) {
				/* The header's part is filled first. */
				got = (size_t)n > iov[0].iov_len ?
				    (size_t)n - iov[0].iov_len : 0;
				c->hdr_got += (size_t)n - got;
				r = c->hdr_got < MSS_FRAME_HDR ? 0 :
				    mfad_conn_begin(c, ahead, got);
				sodium_memzero(ahead, got);
				if (r != 0) {
					mfad_conn_close(s, c);
					return;
				}
				if (c->in != NULL &&
				    mss_buf_avail(c->in) == c->len)
					break;
				continue;
			}
		} else {
			want = c->len - mss_buf_avail(c->in);
			if ((dst = mss_buf_reserve(c->in, want)) == NULL) {
				mfad_conn_close(s, c);
				return;
			}
			iov[0].iov_base = dst;
			iov[0].iov_len = want;
			n = mfad_conn_recv(c, iov, 1);
			if (n > 0) {
				mss_buf_commit(c->in, (size_t)n);
				if (mss_buf_avail(c->in) == c->len)
					break;
				continue;
			}
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		mfad_conn_close(s, c);	/* EOF or error mid-request */
		return;
	}
	/* Descriptors are for BACKUP only; with any other request they are
	 * closed and the connection dropped, as for a malformed frame. */
	if (c->nfds > 0 && c->type != MSS_REQ_BACKUP) {
		mfad_log_limited(&mfad_lim_bad, LOG_NOTICE, "uid %u sent "
		    "descriptors with request type %u: dropped",
		    (unsigned)c->peer.uid, (unsigned)c->type);
		mfad_conn_close(s, c);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		mfad_conn_close(s, c);
		return;
	}
	j->slot = (size_t)(c - s->conns);
	j->gen = c->gen;
	j->req.type = c->type;
	j->req.in = c->in;
	j->req.peer = c->peer;
	j->trusted = c->uidx < 0;
	j->has_sock = 1;
	j->sock = c->fd;
	memcpy(j->req.peer.fds, c->fds, sizeof(c->fds));
	j->req.peer.nfds = c->nfds;
	c->nfds = 0;
	c->in = NULL;
	if (mfad_pool_submit(s->pool, j) != 0) {
		mfad_job_free(j);
		mfad_conn_close(s, c);
		return;
	}
	c->state = MFAD_CONN_BUSY;
	if (c->uidx >= 0)
		s->uids[c->uidx].busy++;
}

static void
mfad_conn_write(struct mfad_srv *s, struct mfad_conn *c)
{
	ssize_t n;

	while (mss_buf_avail(c->out) > 0) {
		n = send(c->fd, mss_buf_ptr(c->out), mss_buf_avail(c->out),
		    MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			mfad_conn_close(s, c);
			return;
		}
		c->out->off += (size_t)n;
	}
	mfad_conn_close(s, c);	/* one request per connection */
}

/*
 * Out of descriptors (EMFILE, ENFILE): the listener stays readable, and
 * polling it again at once would spin. The spare descriptor is given up
 * to take the waiting connections and close them (their clients see mfad
 * hang up rather than wait), then the listener rests for a moment.
 */
static void
mfad_accept_shed(struct mfad_srv *s, int lfd, int err)
{
	unsigned n = 0;
	int fd;

	if (s->spare >= 0) {
		close(s->spare);
		s->spare = -1;
		while (n < MFAD_ACCEPT_BATCH && (fd = accept4(lfd, NULL, NULL,
		    SOCK_CLOEXEC)) >= 0) {
			close(fd);
			n++;
		}
		s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	mfad_log_limited(&mfad_lim_nofile, LOG_ERR, "accept: %s: refused %u "
	    "connections, pausing for %d ms", strerror(err), n,
	    MFAD_ACCEPT_PAUSE_MS);
	s->accept_after = mfad_clock_mono_ms() + MFAD_ACCEPT_PAUSE_MS;
}

/* Gives fd a slot, or closes it when its caller is over a limit (NULL). */
static struct mfad_conn *
mfad_accept_one(struct mfad_srv *s, int fd)
{
	struct mfad_ctx *ctx = s->ctx;
	struct mfad_conf *conf;
	struct mfad_peer peer;
	struct mfad_conn *c;
	int u = -1, r;

	conf = mfad_snap_hold(ctx);
	r = mfad_peer_get(fd, conf, &peer);
	mfad_snap_release(conf);
	if (r != 0) {
		close(fd);
		return NULL;
	}
	if (s->nfree == 0 && s->fresh == s->nconns) {
		mfad_log_limited(&mfad_lim_full, LOG_WARNING, "all %zu "
		    "connections in use: refusing uid %u", s->nconns,
		    (unsigned)peer.uid);
		close(fd);
		return NULL;
	}
	if (!mfad_peer_trusted(&peer)) {
		if (s->unpriv >= s->unpriv_max) {
			mfad_log_limited(&mfad_lim_share, LOG_WARNING,
			    "unprivileged callers hold %zu connections, "
			    "their share: refusing uid %u", s->unpriv,
			    (unsigned)peer.uid);
			close(fd);
			return NULL;
		}
		if ((u = mfad_uid_get(s, peer.uid)) < 0 ||
		    s->uids[u].conns >= MFAD_UID_CONNS) {
			mfad_log_limited(&mfad_lim_uid, LOG_WARNING, "uid %u "
			    "holds %d connections, its limit: refusing one",
			    (unsigned)peer.uid, MFAD_UID_CONNS);
			close(fd);
			return NULL;
		}
		s->uids[u].conns++;
		s->unpriv++;
	}
	c = &s->conns[s->nfree > 0 ? s->freev[--s->nfree] : s->fresh++];
	/* The loop scans slots up to hi only: a freed slot is taken again
	 * before a new one, so the slots in use stay low, whatever nconns
	 * is. */
	if ((size_t)(c - s->conns) >= s->hi)
		s->hi = (size_t)(c - s->conns) + 1;
	c->peer = peer;
	c->uidx = u;
	c->fd = fd;
	c->state = MFAD_CONN_READ;
	c->hdr_got = 0;
	c->deadline = mfad_clock_mono_ms() + MFAD_IO_DEADLINE_MS;
	return c;
}

static void
mfad_accept(struct mfad_srv *s, int lfd)
{
	struct mfad_conn *c;
	unsigned n;
	int fd;

	/* A bounded batch: a stream of connections must not keep the loop
	 * from the requests it holds. */
	for (n = 0; n < MFAD_ACCEPT_BATCH; n++) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC)) >= 0) {
			/* A client writes its request as soon as it is
			 * connected: read it now rather than a poll later,
			 * unless its uid has its fill in flight (the loop
			 * reads it once one is answered). */
			if ((c = mfad_accept_one(s, fd)) != NULL &&
			    (c->uidx < 0 ||
			    s->uids[c->uidx].busy < MFAD_UID_BUSY))
				mfad_conn_read(s, c);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
			continue;
		case EAGAIN:
#if EAGAIN != EWOULDBLOCK
		case EWOULDBLOCK:
#endif
			return;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			mfad_accept_shed(s, lfd, errno);
			return;
		default:
			mfad_log_limited(&mfad_lim_accept, LOG_ERR, "accept: "
			    "%s", strerror(errno));
			s->accept_after = mfad_clock_mono_ms() +
			    MFAD_ACCEPT_PAUSE_MS;
			return;
		}
	}
}

/*
 * Raises the soft open-file limit to the hard one and sizes the tables
 * from it, keeping MFAD_FD_RESERVE descriptors for everything else.
 */
static int MSS_WUR
mfad_srv_init(struct mfad_srv *s, struct mfad_ctx *ctx,
    struct mfad_pool *pool)
{
	struct rlimit rl;
	rlim_t lim = 1024;
	size_t n;

	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->pool = pool;
	s->spare = -1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			lim = rl.rlim_cur;
			rl.rlim_cur = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
				mfad_log(LOG_WARNING, "cannot raise the "
				    "open-file limit to %llu: %s",
				    (unsigned long long)rl.rlim_max,
				    strerror(errno));
			else
				lim = rl.rlim_cur;
		} else
			lim = rl.rlim_cur;
	}
	if (lim == RLIM_INFINITY || lim > MFAD_CONN_CAP + MFAD_FD_RESERVE)
		n = MFAD_CONN_CAP;
	else if (lim < MFAD_CONN_MIN + MFAD_FD_RESERVE)
		n = MFAD_CONN_MIN;
	else
		n = (size_t)lim - MFAD_FD_RESERVE;
	s->nconns = n;
	s->unpriv_max = MFAD_UNPRIV_SHARE(n);
	for (s->nbuckets = 1; s->nbuckets < n; s->nbuckets <<= 1)
		;
	/* Zeroed tables that need no first pass: their pages stay
	 * untouched, out of the resident memory, until the slots are used
	 * (all of them, 16,384 and more, would be megabytes). A slot at or
	 * above fresh, an entry at or above ufresh, was never used; a free
	 * slot is MFAD_CONN_FREE, which is 0. */
	if ((s->conns = calloc(n, sizeof(*s->conns))) == NULL ||
	    (s->freev = calloc(n, sizeof(*s->freev))) == NULL ||
	    (s->uids = calloc(n, sizeof(*s->uids))) == NULL ||
	    (s->buckets = calloc(s->nbuckets, sizeof(*s->buckets))) == NULL)
		return MSS_ERR_NOMEM;
	s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	mfad_log(LOG_INFO, "up to %zu connections (open-file limit %llu), "
	    "%zu for unprivileged callers, %d per uid", n,
	    (unsigned long long)lim, s->unpriv_max, MFAD_UID_CONNS);
	return 0;
}

static void
mfad_srv_free(struct mfad_srv *s)
{
	size_t i;

	if (s->conns != NULL)
		for (i = 0; i < s->fresh; i++)
			if (s->conns[i].state != MFAD_CONN_FREE)
				mfad_conn_close(s, &s->conns[i]);
	if (s->spare >= 0)
		close(s->spare);
	free(s->conns);
	free(s->freev);
	free(s->uids);
	free(s->buckets);
}

/*
 * The store and the keys were set up for the mode at start: where the
 * accounts and devices live, and which key hashes what, cannot change
 * under them. (Other [directory] keys are read when the store opens:
 * they too take effect at the next start.)
 */
static int
mfad_reload_same_mode(const struct mfad_conf *cur, const struct mfad_conf *nc)
{
	if ((cur->dir_nuris > 0) != (nc->dir_nuris > 0) ||
	    cur->device_scope != nc->device_scope)
		return 0;
	return cur->dir_nuris == 0 ||
	    strcmp(cur->dir_key_file, nc->dir_key_file) == 0;
}

/*
 * SIGHUP: the new file is read, checked and published as a new snapshot
 * on a thread of its own, since the checks hash a password (and may wait
 * for a core to do it): the event loop keeps answering meanwhile, and
 * requests and mail in flight finish with the snapshot they started with.
 */
static void
mfad_reload(struct mfad_ctx *ctx)
{
	struct mfad_conf *nc = NULL, *cur;
	char err[1024];

	mfad_notify("RELOADING=1");
	cur = mfad_snap_hold(ctx);
	if (mfad_conf_load(cur->path, &nc, err, sizeof(err)) != 0) {
		mfad_log(LOG_ERR, "reload refused, keeping the running "
		    "configuration: %s", err);
		goto refused;
	}
	/* A configuration that cannot render mail would stop every login. */
	if (mfad_render_check(nc, err, sizeof(err)) != 0) {
		mfad_log(LOG_ERR, "reload refused, keeping the running "
		    "configuration: %s", err);
		goto refused;
	}
	if (!mfad_reload_same_mode(cur, nc)) {
		mfad_log(LOG_ERR, "reload refused, keeping the running "
		    "configuration: turning fleet mode on or off, or changing "
		    "[device] scope or [directory] key_file, needs a restart");
		goto refused;
	}
	if (strcmp(nc->socket, cur->socket) != 0 ||
	    strcmp(nc->database, cur->database) != 0)
		mfad_log(LOG_WARNING, "socket and database changes take "
		    "effect at the next start");
	if (mfad_pw_init(nc) != 0) {
		mfad_log(LOG_ERR, "reload refused: cannot hash, or the "
		    "blocklist cannot be read");
		goto refused;
	}
	if (nc->pw_weak)
		mfad_log(LOG_WARNING, "[password] opslimit/memlimit are "
		    "below 19 MiB at t=2: for tests only");
	mfad_snap_release(cur);
	/* The peer cache is dropped at the next connection (mfad_peer_get
	 * sees the new snapshot), the old snapshot by its last holder. */
	mfad_snap_publish(ctx, nc);
	mfad_log(LOG_NOTICE, "configuration reloaded");
	mfad_notify("READY=1");
	return;
 refused:
	mfad_snap_release(cur);
	mfad_conf_free(nc);
	mfad_notify("READY=1");
}

struct mfad_reloader {
	struct mfad_ctx		*ctx;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	int			 pending;	/* a SIGHUP not acted on yet */
	int			 stop;
	pthread_t		 thread;
};

static void *
mfad_reloader(void *arg)
{
	struct mfad_reloader *rl = arg;

	pthread_setname_np(pthread_self(), "mfad-reload");
	pthread_mutex_lock(&rl->lock);
	for (;;) {
		while (!rl->pending && !rl->stop)
			pthread_cond_wait(&rl->cond, &rl->lock);
		if (rl->stop)
			break;
		/* Signals during this reload make one more after it. */
		rl->pending = 0;
		pthread_mutex_unlock(&rl->lock);
		mfad_reload(rl->ctx);
		pthread_mutex_lock(&rl->lock);
	}
	pthread_mutex_unlock(&rl->lock);
	return NULL;
}

static int MSS_WUR
mfad_reloader_start(struct mfad_reloader *rl, struct mfad_ctx *ctx)
{
	memset(rl, 0, sizeof(*rl));
	rl->ctx = ctx;
	pthread_mutex_init(&rl->lock, NULL);
	pthread_cond_init(&rl->cond, NULL);
	if (pthread_create(&rl->thread, NULL, mfad_reloader, rl) != 0) {
		pthread_cond_destroy(&rl->cond);
		pthread_mutex_destroy(&rl->lock);
		return MSS_ERR_SYSTEM;
	}
	return 0;
}

static void
mfad_reloader_kick(struct mfad_reloader *rl)
{
	pthread_mutex_lock(&rl->lock);
	rl->pending = 1;
	pthread_cond_signal(&rl->cond);
	pthread_mutex_unlock(&rl->lock);
}

/* Waits for a reload in progress (one password hash at most). */
static void
mfad_reloader_stop(struct mfad_reloader *rl)
{
	pthread_mutex_lock(&rl->lock);
	rl->stop = 1;
	pthread_cond_signal(&rl->cond);
	pthread_mutex_unlock(&rl->lock);
	pthread_join(rl->thread, NULL);
	pthread_cond_destroy(&rl->cond);
	pthread_mutex_destroy(&rl->lock);
}

int
mfad_server_run(struct mfad_ctx *ctx, int lfd, int sigfd)
{
	struct pollfd *pfd = NULL;
	size_t *map = NULL;
	struct mfad_conn *conns;
	struct mfad_srv srv;
	struct mfad_pool pool;
	struct mfad_reloader reloader;
	struct mfad_job *j, *done;
	struct signalfd_siginfo si;
	long long now, wait, next_sweep;
	size_t i, n;
	int r, running = 1, timeout;

	if ((r = mfad_srv_init(&srv, ctx, &pool)) != 0 ||
	    (pfd = calloc(srv.nconns + 3, sizeof(*pfd))) == NULL ||
	    (map = calloc(srv.nconns + 3, sizeof(*map))) == NULL) {
		mfad_srv_free(&srv);
		free(pfd);
		return r != 0 ? r : MSS_ERR_NOMEM;
	}
	conns = srv.conns;
	/* A reload's hashing must not wait behind unprivileged callers. */
	mfad_pw_priority(1);
	if ((r = mfad_pool_start(&pool, ctx)) != 0) {
		mfad_pool_stop(&pool);
		mfad_srv_free(&srv);
		free(pfd);
		free(map);
		return r;
	}
	if ((r = mfad_reloader_start(&reloader, ctx)) != 0) {
		mfad_pool_stop(&pool);
		mfad_srv_free(&srv);
		free(pfd);
		free(map);
		return r;
	}
	next_sweep = mfad_clock_mono_ms();
	mfad_log(LOG_NOTICE, "mfad %s ready on %s", PACKAGE_VERSION,
	    ctx->conf->socket);
	mfad_notify("READY=1");
	while (running) {
		now = mfad_clock_mono_ms();
		if (now >= next_sweep) {
			if (mfad_pool_sweep(&pool) != 0)
				mfad_log(LOG_ERR, "housekeeping: out of memory");
			next_sweep = now + MFAD_SWEEP_SECS * 1000;
		}
		n = 0;
		pfd[n].fd = srv.accept_after > now ? -1 : lfd;
		pfd[n++].events = POLLIN;
		pfd[n].fd = sigfd;
		pfd[n++].events = POLLIN;
		pfd[n].fd = mfad_pool_wake_fd(&pool);
		pfd[n++].events = POLLIN;
		timeout = (int)(next_sweep - now);
		if (srv.accept_after > now && srv.accept_after - now < timeout)
			timeout = (int)(srv.accept_after - now);
		for (i = 0; i < srv.hi; i++) {
			if (conns[i].state != MFAD_CONN_READ &&
			    conns[i].state != MFAD_CONN_WRITE)
				continue;
			/* A stalled client loses its slot, no one else waits. */
			if (conns[i].deadline <= now) {
				mfad_log_limited(&mfad_lim_timeout, LOG_INFO,
				    "client uid %u timed out",
				    (unsigned)conns[i].peer.uid);
				mfad_conn_close(&srv, &conns[i]);
				continue;
			}
			wait = conns[i].deadline - now;
			if (wait < timeout)
				timeout = (int)wait;
			/* A uid with its fill of requests in flight is not
			 * read from until one is answered. */
			if (conns[i].state == MFAD_CONN_READ &&
			    conns[i].uidx >= 0 &&
			    srv.uids[conns[i].uidx].busy >= MFAD_UID_BUSY)
				continue;
			pfd[n].fd = conns[i].fd;
			pfd[n].events = conns[i].state == MFAD_CONN_READ ?
			    POLLIN : POLLOUT;
			map[n++] = i;
		}
		if (poll(pfd, n, timeout < 0 ? 0 : timeout) < 0) {
			if (errno == EINTR)
				continue;
			mfad_log(LOG_ERR, "poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents & POLLIN) {
			while (read(sigfd, &si, sizeof(si)) ==
			    (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					mfad_reloader_kick(&reloader);
				else {
					mfad_log(LOG_NOTICE, "signal %u: "
					    "stopping", si.ssi_signo);
					running = 0;
				}
			}
		}
		if (pfd[2].revents & POLLIN) {
			done = mfad_pool_done(&pool);
			while ((j = done) != NULL) {
				struct mfad_conn *c = &conns[j->slot];

				done = j->next;
				if (c->gen == j->gen &&
				    c->state == MFAD_CONN_BUSY) {
					if (j->req.out == NULL)
						mfad_conn_close(&srv, c);
					else {
						mfad_conn_unbusy(&srv, c);
						c->out = j->req.out;
						j->req.out = NULL;
						c->state = MFAD_CONN_WRITE;
						c->deadline = mfad_clock_mono_ms() +
						    MFAD_IO_DEADLINE_MS;
						mfad_conn_write(&srv, c);
					}
				}
				mfad_job_free(j);
			}
		}
		for (i = 3; i < n; i++) {
			struct mfad_conn *c = &conns[map[i]];

			if (pfd[i].revents == 0 || c->fd != pfd[i].fd)
				continue;
			if (c->state == MFAD_CONN_READ)
				mfad_conn_read(&srv, c);
			else if (c->state == MFAD_CONN_WRITE)
				mfad_conn_write(&srv, c);
		}
		if (running && (pfd[0].revents & POLLIN))
			mfad_accept(&srv, lfd);
	}
	/* A reload in progress ends first: its READY=1 must not follow. */
	mfad_reloader_stop(&reloader);
	/* Let workers finish what they hold: each is a short transaction. */
	mfad_notify("STOPPING=1");
	mfad_pool_stop(&pool);
	mfad_srv_free(&srv);
	free(pfd);
	free(map);
	return 0;
}

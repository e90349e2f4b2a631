#include "fake_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
	struct fake_http *f;
	int fd;
	pthread_t th;
	struct conn *next;
};

struct fake_http {
	int lfd;
	int stop_pipe[2];
	pthread_t th;
	pthread_mutex_t mu;
	struct fake_http_resp resp;
	char *body;		/* owned copy of resp.body */
	int requests;
	char last_path[256];
	char endpoint[64];
	struct conn *conns;
};

struct fake_http_resp fake_http_resp(int status, const char *body)
{
	struct fake_http_resp r;

	memset(&r, 0, sizeof(r));
	r.status = status;
	r.body = body;
	r.cut_after = -1;
	return r;
}

/* Waits until fd has the events or the server stops; false on stop. */
static bool wait_fd(struct fake_http *f, int fd, short events)
{
	for (;;) {
		struct pollfd p[2] = { { fd, events, 0 }, { f->stop_pipe[0], POLLIN, 0 } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (p[1].revents)
			return false;
		if (p[0].revents)
			return true;
	}
}

static bool send_all(struct fake_http *f, int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n;

		if (!wait_fd(f, fd, POLLOUT))
			return false;
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool send_chunk(struct fake_http *f, int fd, const char *data, size_t len, size_t send_len)
{
	char hdr[32];

	snprintf(hdr, sizeof(hdr), "%zx\r\n", len);
	if (!send_all(f, fd, hdr, strlen(hdr)) || !send_all(f, fd, data, send_len))
		return false;
	return send_len < len ? false : send_all(f, fd, "\r\n", 2);
}

/* Sends the scripted answer; true when the connection may be kept. */
static bool respond(struct fake_http *f, int fd, const struct fake_http_resp *r, const char *body)
{
	char hdr[512];
	size_t len = r->body_len ? r->body_len : body ? strlen(body) : 0, sent = 0;
	size_t piece = r->piece ? r->piece : len;
	bool complete = true;

	if (!r->status)
		return false;
	if (r->chunked)
		snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d Scripted\r\nContent-Type: application/json\r\n"
			"Transfer-Encoding: chunked\r\n\r\n", r->status);
	else
		snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d Scripted\r\nContent-Type: application/json\r\n"
			"Content-Length: %llu\r\n\r\n", r->status,
			(unsigned long long)(r->declared_len ? r->declared_len : len));
	if (!send_all(f, fd, hdr, strlen(hdr)))
		return false;
	while (sent < len) {
		size_t n = len - sent < piece ? len - sent : piece, m = n;
		bool cut = r->cut_after >= 0 && sent + n > (size_t)r->cut_after;

		if (cut)
			m = (size_t)r->cut_after - sent;
		if (r->chunked ? !send_chunk(f, fd, body + sent, n, m) : !send_all(f, fd, body + sent, m))
			return false;
		if (cut)
			return false;
		sent += n;
		if (r->piece && sent < len) {
			struct timespec ts = { 0, 2000000 };

			nanosleep(&ts, NULL);
		}
	}
	if (r->cut_after >= 0 && (size_t)r->cut_after <= len && !r->filler)
		return false;
	if (r->chunked && r->filler) {
		static char blanks[65536];
		uint64_t left = r->filler;

		memset(blanks, ' ', sizeof(blanks));
		while (left > 0) {
			size_t n = left < sizeof(blanks) ? (size_t)left : sizeof(blanks);

			if (!send_chunk(f, fd, blanks, n, n))
				return false;
			left -= n;
		}
	}
	if (r->declared_len && r->declared_len != len)
		complete = false;
	if (r->hold) {
		char buf[4096];

		/* Until the client hangs up (or the server stops). */
		while (wait_fd(f, fd, POLLIN) && recv(fd, buf, sizeof(buf), 0) > 0)
			;
		return false;
	}
	if (r->chunked && !send_all(f, fd, "0\r\n\r\n", 5))
		return false;
	return complete;
}

static void *conn_main(void *arg)
{
	struct conn *cn = arg;
	struct fake_http *f = cn->f;
	size_t cap = 1 << 20, have = 0;
	char *buf = malloc(cap + 1);

	while (buf) {
		char *end, *cl;
		size_t hdr_len, body_len = 0, total;
		struct fake_http_resp r;
		char *body = NULL;
		bool keep;

		buf[have] = 0;
		while (!(end = strstr(buf, "\r\n\r\n"))) {
			ssize_t n;

			if (have == cap || !wait_fd(f, cn->fd, POLLIN))
				goto out;
			n = recv(cn->fd, buf + have, cap - have, 0);
			if (n <= 0)
				goto out;
			have += (size_t)n;
			buf[have] = 0;
		}
		hdr_len = (size_t)(end - buf) + 4;
		*end = 0;
		cl = strcasestr(buf, "\r\ncontent-length:");
		if (cl)
			body_len = strtoul(cl + 17, NULL, 10);
		*end = '\r';
		total = hdr_len + body_len;
		if (total > cap)
			goto out;
		while (have < total) {
			ssize_t n;

			if (!wait_fd(f, cn->fd, POLLIN))
				goto out;
			n = recv(cn->fd, buf + have, cap - have, 0);
			if (n <= 0)
				goto out;
			have += (size_t)n;
		}
		pthread_mutex_lock(&f->mu);
		f->requests++;
		{
			const char *sp = strchr(buf, ' '), *sp2 = sp ? strchr(sp + 1, ' ') : NULL;

			if (sp && sp2)
				snprintf(f->last_path, sizeof(f->last_path), "%.*s", (int)(sp2 - sp - 1), sp + 1);
		}
		r = f->resp;
		if (f->body) {
			size_t blen = r.body_len ? r.body_len : strlen(f->body);

			body = malloc(blen + 1);
			if (body) {
				memcpy(body, f->body, blen);
				body[blen] = 0;
			}
		}
		pthread_mutex_unlock(&f->mu);
		keep = respond(f, cn->fd, &r, body);
		free(body);
		memmove(buf, buf + total, have - total);
		have -= total;
		if (!keep)
			break;
	}
out:
	free(buf);
	shutdown(cn->fd, SHUT_RDWR);
	close(cn->fd);
	cn->fd = -1;
	return NULL;
}

static void *accept_main(void *arg)
{
	struct fake_http *f = arg;

	for (;;) {
		struct conn *cn;
		int fd;

		if (!wait_fd(f, f->lfd, POLLIN))
			break;
		fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		cn = calloc(1, sizeof(*cn));
		if (!cn) {
			close(fd);
			continue;
		}
		cn->f = f;
		cn->fd = fd;
		if (pthread_create(&cn->th, NULL, conn_main, cn)) {
			close(fd);
			free(cn);
			continue;
		}
		pthread_mutex_lock(&f->mu);
		cn->next = f->conns;
		f->conns = cn;
		pthread_mutex_unlock(&f->mu);
	}
	return NULL;
}

struct fake_http *fake_http_start(void)
{
	struct fake_http *f = calloc(1, sizeof(*f));
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	if (!f)
		return NULL;
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(f->lfd, 64) ||
	    getsockname(f->lfd, (struct sockaddr *)&a, &alen) || pipe2(f->stop_pipe, O_CLOEXEC)) {
		if (f->lfd >= 0)
			close(f->lfd);
		free(f);
		return NULL;
	}
	snprintf(f->endpoint, sizeof(f->endpoint), "127.0.0.1:%d", ntohs(a.sin_port));
	pthread_mutex_init(&f->mu, NULL);
	f->resp = fake_http_resp(200, NULL);
	if (pthread_create(&f->th, NULL, accept_main, f)) {
		close(f->lfd);
		close(f->stop_pipe[0]);
		close(f->stop_pipe[1]);
		pthread_mutex_destroy(&f->mu);
		free(f);
		return NULL;
	}
	return f;
}

const char *fake_http_endpoint(const struct fake_http *f)
{
	return f->endpoint;
}

void fake_http_set(struct fake_http *f, const struct fake_http_resp *r)
{
	char *copy = NULL;

	if (r->body) {
		size_t len = r->body_len ? r->body_len : strlen(r->body);

		copy = malloc(len + 1);
		if (copy) {
			memcpy(copy, r->body, len);
			copy[len] = 0;
		}
	}
	pthread_mutex_lock(&f->mu);
	free(f->body);
	f->body = copy;
	f->resp = *r;
	f->resp.body = copy;
	pthread_mutex_unlock(&f->mu);
}

int fake_http_requests(struct fake_http *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->requests;
	pthread_mutex_unlock(&f->mu);
	return n;
}

const char *fake_http_last_path(struct fake_http *f, char *buf, size_t len)
{
	pthread_mutex_lock(&f->mu);
	snprintf(buf, len, "%s", f->last_path);
	pthread_mutex_unlock(&f->mu);
	return buf;
}

void fake_http_stop(struct fake_http *f)
{
	struct conn *cn, *next;

	if (!f)
		return;
	if (write(f->stop_pipe[1], "x", 1) < 0)
		perror("fake_http: write");
	pthread_join(f->th, NULL);
	for (cn = f->conns; cn; cn = next) {
		next = cn->next;
		pthread_join(cn->th, NULL);
		free(cn);
	}
	close(f->lfd);
	close(f->stop_pipe[0]);
	close(f->stop_pipe[1]);
	pthread_mutex_destroy(&f->mu);
	free(f->body);
	free(f);
}

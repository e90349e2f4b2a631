/* A tiny scripted HTTP/1.1 server on loopback, for testing clients
 * against broken servers: an accept thread plus one thread per connection.
 * Every request (any method and path; the body is read by Content-Length)
 * gets the response currently set with fake_http_set(). Connections are
 * kept alive between complete answers. */
#ifndef VSTOR_TEST_FAKE_HTTP_H
#define VSTOR_TEST_FAKE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fake_http_resp {
	int status;		/* HTTP status; 0: close the connection without answering */
	const char *body;	/* NULL: empty (copied by fake_http_set) */
	size_t body_len;	/* 0: strlen(body) */
	bool chunked;		/* Transfer-Encoding: chunked, else Content-Length */
	uint64_t declared_len;	/* Content-Length to announce instead of the real one */
	long cut_after;		/* >= 0: close after this many body bytes (no chunk terminator) */
	uint64_t filler;	/* chunked: then stream this many blank bytes (stops when
				 * the client hangs up) */
	bool hold;		/* after the body: keep the connection open without
				 * finishing the response until the client hangs up */
	size_t piece;		/* > 0: send the body in pieces of this size (one chunk
				 * each when chunked), 2 ms apart */
};

struct fake_http;

/* Starts the server on 127.0.0.1 (random port). NULL on failure. */
struct fake_http *fake_http_start(void);
/* "127.0.0.1:<port>" */
const char *fake_http_endpoint(const struct fake_http *f);
/* Sets the response for the following requests (a copy is taken). */
void fake_http_set(struct fake_http *f, const struct fake_http_resp *r);
/* Requests seen so far. */
int fake_http_requests(struct fake_http *f);
/* The path of the last request, copied into buf. */
const char *fake_http_last_path(struct fake_http *f, char *buf, size_t len);
/* Stops the thread, closes everything, frees f. */
void fake_http_stop(struct fake_http *f);

/* A response struct with every field at its neutral value. */
struct fake_http_resp fake_http_resp(int status, const char *body);

#endif

/* A lying OSD for the kernel module's receive path (tests/vm/kmod_guest.sh).
 *
 *   fake_osd PORT OSD_NUM SECONDS SEED
 *
 * Listens on 127.0.0.1:PORT, answers SHOW_CONFIG honestly (so the kernel
 * connects), then answers every READ/WRITE/SYNC/DELETE with a reply chosen
 * at random: a correct one, or one that is broken in a way the kernel must
 * survive: bad magic, another opcode, an unknown or stale id, a READ whose
 * length or bitmap is wrong, a huge payload length, a negative retval, a
 * duplicate, a truncated header, or a closed connection. One connection
 * at a time; the kernel reconnects after each reset. Exits after SECONDS,
 * printing what it did.
 *
 *   fake_osd PORT OSD_NUM SECONDS SEED stale-tag
 *
 * answers every READ/WRITE correctly, but first sends an -EIO reply with
 * the id of the previous request that had the same blk-mq tag and part: a
 * late reply the kernel must drop as stale, whichever request holds that
 * tag now (so it must not have sent the same id again).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vstor_proto.h"

enum { OK, BAD_MAGIC, BAD_OPCODE, UNKNOWN_ID, STALE_ID, READ_LEN, BIG_BITMAP, HUGE_LEN,
	NEG_RETVAL, DUPLICATE, SHORT_HDR, CLOSE, NACTIONS };

static const char *const names[NACTIONS] = {
	"ok", "bad-magic", "bad-opcode", "unknown-id", "stale-id", "read-len", "big-bitmap",
	"huge-len", "neg-retval", "duplicate", "short-hdr", "close",
};

static unsigned long counts[NACTIONS], conns, requests, stale_sent;
static int stale_tag_mode;

/* stale-tag: the last id seen per (part, tag), i.e. the id without its generation */
#define ID_NOGEN(id)	((id) & ((1ULL << 44) - 1))
static struct { uint64_t key, id; int used; } last_by_tag[4096];
static volatile sig_atomic_t stop;

static void on_term(int sig __attribute__((unused)))
{
	stop = 1;
}
static uint8_t zeros[1 << 20];

static int xfer(int fd, void *buf, size_t len, int tx)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = tx ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, MSG_WAITALL);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A reply to req; READ replies carry a random bitmap (a 128 KiB object
 * of 4 KiB granules: 4 bytes), so layered reads take random paths. */
static void reply_init(union vs_packet *rep, const union vs_packet *req, int64_t retval)
{
	vs_reply_init(rep, req, retval);
	if (vs_packet_opcode(req) == VS_OP_READ)
		vs_le32_set(&rep->reply_rw.bitmap_len, 4);
}

static int send_reply(int fd, union vs_packet *rep, uint64_t opcode, int64_t retval,
		      uint32_t len)
{
	uint32_t bl = vs_le32_get(rep->reply_rw.bitmap_len), bits = (uint32_t)random();

	if (xfer(fd, rep, sizeof(*rep), 1))
		return -1;
	if (opcode == VS_OP_READ && retval > 0) {
		/* a huge bitmap_len is refused before its bytes are read */
		if (bl <= sizeof(bits) && xfer(fd, &bits, bl, 1))
			return -1;
		return xfer(fd, zeros, len, 1);
	}
	return 0;
}

/* stale-tag mode: an -EIO reply under the tag's previous id, then the answer. */
static int serve_stale_tag(int fd, const union vs_packet *req, uint64_t opcode, uint64_t id,
			   int64_t retval, uint32_t len)
{
	unsigned int slot = (unsigned int)(ID_NOGEN(id) % 4096);
	union vs_packet rep;

	/*
	 * Even when it is this request's very id: the kernel must never reuse
	 * an id on a connection (a late reply to the old request would
	 * complete the new one).
	 */
	if (last_by_tag[slot].used && last_by_tag[slot].key == ID_NOGEN(id)) {
		reply_init(&rep, req, -5);
		vs_le64_set(&rep.reply.id, last_by_tag[slot].id);
		if (send_reply(fd, &rep, opcode, -5, 0))
			return -1;
		stale_sent++;
	}
	last_by_tag[slot].key = ID_NOGEN(id);
	last_by_tag[slot].id = id;
	last_by_tag[slot].used = 1;
	reply_init(&rep, req, retval);
	return send_reply(fd, &rep, opcode, retval, len);
}

/* One request: 0 to go on, -1 when the connection is gone. */
static int serve(int fd, uint64_t *last_id)
{
	union vs_packet req, rep;
	uint64_t opcode, id;
	uint32_t len;
	int64_t retval;
	int act;

	if (xfer(fd, &req, sizeof(req), 0))
		return -1;
	opcode = vs_packet_opcode(&req);
	id = vs_packet_id(&req);
	len = vs_le32_get(req.rw.len);
	if (len > sizeof(zeros))
		return -1;
	if (opcode == VS_OP_WRITE && xfer(fd, zeros, len, 0))
		return -1;
	requests++;
	retval = opcode == VS_OP_READ || opcode == VS_OP_WRITE ? len : 0;
	if (stale_tag_mode)
		return serve_stale_tag(fd, &req, opcode, id, retval, len);
	act = random() % 2 ? OK : (int)(random() % NACTIONS);
	counts[act]++;
	reply_init(&rep, &req, retval);
	switch (act) {
	case BAD_MAGIC:
		vs_le64_set(&rep.reply.magic, VS_REQ_MAGIC ^ 0xff);
		break;
	case BAD_OPCODE:
		vs_le64_set(&rep.reply.opcode, opcode == VS_OP_READ ? VS_OP_WRITE : VS_OP_READ);
		break;
	case UNKNOWN_ID:
		vs_le64_set(&rep.reply.id, ((uint64_t)random() << 32) | (uint64_t)random());
		break;
	case STALE_ID:
		vs_le64_set(&rep.reply.id, *last_id);
		break;
	case READ_LEN:
		if (opcode == VS_OP_READ)
			vs_le64_set(&rep.reply.retval, (uint64_t)len / 2);
		break;
	case BIG_BITMAP:
		vs_le32_set(&rep.reply_rw.bitmap_len, 1u << 22);
		break;
	case HUGE_LEN:
		vs_le64_set(&rep.reply.retval, 1ull << 40);
		break;
	case NEG_RETVAL: {
		static const int errs[] = { 32, 5, 22, 16, 4, 30, 12345 };

		vs_le64_set(&rep.reply.retval, (uint64_t)-(int64_t)errs[random() % 7]);
		break;
	}
	case SHORT_HDR:
		xfer(fd, &rep, 40, 1);
		return -1;
	case CLOSE:
		return -1;
	default:
		break;
	}
	retval = vs_reply_retval(&rep);
	if (send_reply(fd, &rep, vs_packet_opcode(&rep), retval, len))
		return -1;
	if (act == DUPLICATE || act == STALE_ID || act == UNKNOWN_ID) {
		/* and the real answer after it (if the connection still lives) */
		reply_init(&rep, &req, opcode == VS_OP_READ || opcode == VS_OP_WRITE ? len : 0);
		if (send_reply(fd, &rep, opcode, vs_reply_retval(&rep), len))
			return -1;
	}
	*last_id = id;
	return 0;
}

static void handshake_reply(int fd, const union vs_packet *req, uint64_t osd)
{
	union vs_packet rep;
	char json[128];
	int n = snprintf(json, sizeof(json), "{\"osd_num\":%llu,\"protocol_version\":1,"
			 "\"immediate_commit\":\"all\"}", (unsigned long long)osd);

	vs_reply_init(&rep, req, n + 1);
	if (!xfer(fd, &rep, sizeof(rep), 1))
		xfer(fd, json, (size_t)n + 1, 1);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int one = 1, lfd;
	time_t end;
	uint64_t osd;

	if ((argc != 5 && argc != 6) || (argc == 6 && strcmp(argv[5], "stale-tag"))) {
		fprintf(stderr, "usage: %s PORT OSD_NUM SECONDS SEED [stale-tag]\n", argv[0]);
		return 2;
	}
	stale_tag_mode = argc == 6;
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	osd = strtoull(argv[2], NULL, 10);
	end = time(NULL) + atoi(argv[3]);
	srandom((unsigned)atoi(argv[4]));
	signal(SIGTERM, on_term);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 8)) {
		perror("fake_osd: listen");
		return 1;
	}
	printf("fake_osd: listening on 127.0.0.1:%s as OSD %llu\n", argv[1],
	       (unsigned long long)osd);
	fflush(stdout);
	while (!stop && time(NULL) < end) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		union vs_packet req;
		uint64_t last_id = 0;
		int fd;

		if (poll(&p, 1, 200) <= 0)
			continue;
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		conns++;
		memset(last_by_tag, 0, sizeof(last_by_tag));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (!xfer(fd, &req, sizeof(req), 0) &&
		    vs_packet_opcode(&req) == VS_OP_SHOW_CONFIG) {
			handshake_reply(fd, &req, osd);
			while (!stop && time(NULL) < end) {
				p.fd = fd;
				if (poll(&p, 1, 200) <= 0)
					continue;
				if (serve(fd, &last_id))
					break;
			}
		}
		close(fd);
	}
	printf("fake_osd: %lu connections, %lu requests, %lu stale-tag replies:", conns,
	       requests, stale_sent);
	for (int i = 0; i < NACTIONS; i++)
		printf(" %s=%lu", names[i], counts[i]);
	printf("\n");
	return 0;
}

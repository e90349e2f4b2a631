/* A model of one image written through libvstor, for cluster tests: a
 * write loop with VCM_QD writes in flight (each slot inside its own part of
 * an area, so no two writes in flight overlap and the model stays exact
 * across retries and replays, while each slot keeps overwriting its own
 * part), and a verifier that reads the whole image back. */
#ifndef VSTOR_TEST_VC_MODEL_H
#define VSTOR_TEST_VC_MODEL_H

#include "etcd.h"
#include "vstor_client.h"

#include <stdbool.h>
#include <stdint.h>

#define VCM_QD 8

struct vcm;

struct vcm_slot {
	struct vcm *m;
	bool busy;
	uint64_t off, len;
	uint8_t *data;
};

struct vcm {
	struct vstor_client *vc;
	uint64_t inode, size;
	uint8_t *model;			/* size bytes: what the image must hold */
	uint64_t base, span, max_len;	/* the write area (vcm_area) */
	struct vcm_slot slots[VCM_QD];
	int done, failed;		/* of the last vcm_write_loop() */
	int64_t last_err;
};

/* xorshift, the same sequence in every run */
uint32_t vcm_rnd(void);
/* An etcd configuration for libvstor (free with etcd_config_free(), then
 * free()); NULL on failure. */
struct etcd_config *vcm_etcd_cfg(const char *endpoint, const char *prefix);
/* A libvstor client of the cluster at endpoint/prefix, ready (cluster
 * state loaded within 20 s); a failed op fails after op_timeout_ms rather
 * than hanging. NULL (a message on stderr) on failure. */
struct vstor_client *vcm_client_new(const char *endpoint, const char *prefix, int op_timeout_ms);
/* Model of a zeroed image; the area is the whole image, writes up to
 * 1 MiB. 0 or -1. */
int vcm_init(struct vcm *m, struct vstor_client *vc, uint64_t inode, uint64_t size);
void vcm_free(struct vcm *m);
/* Slot i writes 4 KiB..max_len inside [base + i*span/QD, base + (i+1)*span/QD). */
void vcm_area(struct vcm *m, uint64_t base, uint64_t span, uint64_t max_len);
/* n random writes, VCM_QD in flight, through m->vc (which may be changed
 * between loops); on_progress(m, done) runs between loop iterations.
 * 0, or -1 on a submit error or timeout; m->failed counts writes that
 * completed with an error (the model keeps what they overwrote, which is
 * only right if they really did not land). */
int vcm_write_loop(struct vcm *m, int n, void (*on_progress)(struct vcm *m, int done),
		   int timeout_ms);
/* Reads the whole image through m->vc (1 MiB at a time) and compares. */
bool vcm_verify(struct vcm *m);

#endif

/* mask_h2.h -- the HTTP/2 part of masked event files (mask.h).
 *
 * Kept: the client's connection preface, every frame header, the prefix
 * fields of a frame (pad length, priority, promised stream id), and the
 * payloads of the frames that carry no application data (SETTINGS, PING,
 * PRIORITY, RST_STREAM, WINDOW_UPDATE, and GOAWAY's stream id and error
 * code). DATA payloads and padding become '*'. A header block cannot be
 * kept in part (HPACK's fields refer to each other through its dynamic
 * table, and a field cannot be shortened in place), so each of its bytes
 * becomes 0x80, which HPACK decodes as an error: a replay knows every
 * stream, its sizes and timing, and says its headers are unknown. A
 * HEADERS block's first byte becomes its side's mark instead (0x82, the
 * static ":method GET", in requests; 0x88, ":status 200", in responses):
 * it tells a request from a response where a replay meets a connection in
 * its middle, and the error after it keeps it from being read as a field. */
#ifndef WIRESPAN_PROTO_MASK_H2_H
#define WIRESPAN_PROTO_MASK_H2_H

#include <stdbool.h>
#include <stdint.h>

struct h2m_dir {
	uint8_t st;      /* M_* (mask_h2.c) */
	uint8_t hdr[9];
	uint8_t nhdr;
	uint8_t type, flags;
	uint32_t len, left; /* the frame's payload, and what is left of it */
	uint32_t pre;       /* prefix bytes (kept) */
	uint32_t keep;      /* payload bytes kept after the prefix */
	uint32_t pre_off;   /* preface bytes read */
};

struct h2_mask {
	struct h2m_dir d[2];
};

/* Mask p[0..n) in place, bytes that travelled in dir; req: dir is the
 * client's. */
void ws_h2mask_bytes(struct h2_mask *g, int dir, bool req, uint8_t *p, uint32_t n);
/* n bytes of dir were not captured. */
void ws_h2mask_gap(struct h2_mask *g, int dir, uint64_t n);
bool ws_h2mask_lost(const struct h2_mask *g, int dir);
void ws_h2mask_set_lost(struct h2_mask *g, int dir);
/* A run of dir begins with p[0..n) of its len bytes: a lost direction is
 * read again from it when it begins a chain of frames; a direction not
 * seen yet starts with the preface (the client's) or a frame. */
void ws_h2mask_run_start(struct h2_mask *g, int dir, bool req, bool first, const uint8_t *p, uint32_t n,
			 uint32_t len);

#endif

/* mask_h2.c -- see mask_h2.h. */
#include "proto/mask_h2.h"

#include <string.h>

#include "proto/h2.h"
#include "util/util.h"

enum { M_PREFACE, M_HDR, M_BODY, M_LOST };

enum { F_DATA = 0, F_HEADERS, F_PRIORITY, F_RST_STREAM, F_SETTINGS, F_PUSH_PROMISE, F_PING, F_GOAWAY,
       F_WINDOW_UPDATE, F_CONTINUATION };

#define PREFACE_LEN 24
#define HPACK_ERROR 0x80   /* an indexed field of index 0: a decoding error */
#define MARK_REQUEST 0x82  /* static index 2, ":method GET" */
#define MARK_RESPONSE 0x88 /* static index 8, ":status 200" */

static void frame_start(struct h2m_dir *D)
{
	const uint8_t *h = D->hdr;
	bool padded = h[4] & 0x8;

	D->len = D->left = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
	D->type = h[3];
	D->flags = h[4];
	D->pre = D->keep = 0;
	switch (D->type) {
	case F_DATA:
		D->pre = padded;
		break;
	case F_HEADERS:
		D->pre = padded + (h[4] & 0x20 ? 5 : 0);
		break;
	case F_PUSH_PROMISE:
		D->pre = padded + 4;
		break;
	case F_PRIORITY:
	case F_RST_STREAM:
	case F_SETTINGS:
	case F_PING:
	case F_WINDOW_UPDATE:
		D->keep = D->len;
		break;
	case F_GOAWAY:
		D->keep = 8; /* the last stream id and the error code; not the debug data */
		break;
	default:
		break;
	}
	D->pre = WS_MIN(D->pre, D->len);
	D->st = M_BODY;
}

void ws_h2mask_bytes(struct h2_mask *g, int dir, bool req, uint8_t *p, uint32_t n)
{
	struct h2m_dir *D = &g->d[dir];

	while (n) {
		switch (D->st) {
		case M_PREFACE: {
			uint32_t k = WS_MIN(n, PREFACE_LEN - D->pre_off);
			D->pre_off += k;
			p += k, n -= k;
			if (D->pre_off == PREFACE_LEN)
				D->st = M_HDR;
			break;
		}
		case M_HDR: {
			uint32_t k = WS_MIN(n, 9u - D->nhdr);
			memcpy(D->hdr + D->nhdr, p, k);
			D->nhdr += k;
			p += k, n -= k;
			if (D->nhdr == 9) {
				D->nhdr = 0;
				frame_start(D);
				if (!D->left)
					D->st = M_HDR;
			}
			break;
		}
		case M_BODY: {
			uint32_t k = WS_MIN(n, D->left);
			for (uint32_t i = 0; i < k; i++) {
				uint32_t at = D->len - D->left + i; /* offset in the payload */
				if (at < D->pre || at < D->keep)
					continue;
				bool block = D->type == F_HEADERS || D->type == F_PUSH_PROMISE || D->type == F_CONTINUATION;
				p[i] = block ? HPACK_ERROR : '*';
				/* a HEADERS block opens with its side's mark: what tells a
				 * request from a response where a replay meets the
				 * connection in its middle (the error after it keeps it
				 * from ever being read as a field) */
				if (D->type == F_HEADERS && at == D->pre)
					p[i] = req ? MARK_REQUEST : MARK_RESPONSE;
			}
			D->left -= k;
			p += k, n -= k;
			if (!D->left)
				D->st = M_HDR;
			break;
		}
		default:
			memset(p, '*', n);
			return;
		}
	}
}

void ws_h2mask_gap(struct h2_mask *g, int dir, uint64_t n)
{
	struct h2m_dir *D = &g->d[dir];

	if (D->st == M_BODY && n <= D->left && D->len - D->left >= D->pre && D->len - D->left >= D->keep)
		D->left -= (uint32_t)n; /* inside what is masked anyway */
	else if (n)
		D->st = M_LOST;
	if (D->st == M_BODY && !D->left)
		D->st = M_HDR;
}

bool ws_h2mask_lost(const struct h2_mask *g, int dir) { return g->d[dir].st == M_LOST; }

void ws_h2mask_set_lost(struct h2_mask *g, int dir) { g->d[dir].st = M_LOST; }

void ws_h2mask_run_start(struct h2_mask *g, int dir, bool req, bool first, const uint8_t *p, uint32_t n,
			 uint32_t len)
{
	struct h2m_dir *D = &g->d[dir];
	int frames = n >= 9 ? ws_h2_chain(p, n, n == len, NULL) : 0;
	bool chain = n == len ? frames > 0 : frames >= 2;

	if (first) {
		memset(D, 0, sizeof(*D));
		D->st = req && n && p[0] == 'P' ? M_PREFACE : chain ? M_HDR : M_LOST;
	} else if (D->st == M_LOST && chain) {
		D->st = M_HDR;
		D->nhdr = 0;
	}
}

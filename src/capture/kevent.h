/* kevent.h -- kernel records (capture_abi.h) to internal events, and the
 * file format of `wirespan record --save-events`, so that a recorded event
 * stream can be replayed through the pipeline without a kernel. */
#ifndef WIRESPAN_KEVENT_H
#define WIRESPAN_KEVENT_H

#include <linux/types.h>
#include <stdio.h>

#include "bpf/capture_abi.h"
#include "stream/event.h"

/* The time a record's bytes became visible (its place in causal order) and
 * the time it was written, both CLOCK_MONOTONIC. A send sorts by its entry:
 * the bytes can be read by the peer before the syscall returns. rec holds
 * at least ws_kevent_min_size() bytes. */
void ws_kevent_order(const void *rec, uint64_t *key, uint64_t *commit);
/* The size a record of ABI version abi must have at least, judging by its
 * first byte (len >= 1): task records are short. */
size_t ws_kevent_min_size(const void *rec, int abi);

/* Check a raw record of ABI version abi (1 or WS_ABI_VERSION) and describe
 * it as an event (pointing into rec). Returns 0, or -1 for a malformed
 * record. Fields a version-1 record lacks are left unknown (0). */
int ws_kevent_decode(const void *rec, size_t len, int64_t mono_to_real, int abi, struct ws_event *ev);
/* Size of the fixed part of a (non-task) record of that ABI version. */
size_t ws_kevent_size(int abi);

/* Saved event streams: an 8-byte magic, the ABI version, flags
 * (WS_EVFILE_*), the clock offset, then records as [u32 length][bytes]. */
#define WS_EVFILE_MASKED 1u /* payloads masked (proto/mask.h) */
int ws_evfile_write_header(FILE *f, int64_t mono_to_real, unsigned flags);
int ws_evfile_write(FILE *f, const void *rec, uint32_t len);

/* Writing a masked file: every DATA record's payload passes its
 * connection's masker (proto/mask.h) first. Connections are forgotten at
 * their CLOSE; past max connections at once, payloads are masked whole. */
struct ws_evmask;
struct ws_evmask *ws_evmask_new(size_t max);
void ws_evmask_free(struct ws_evmask *em);
/* rec is a record of the current ABI, at least ws_kevent_min_size bytes. */
int ws_evfile_write_masked(FILE *f, struct ws_evmask *em, const void *rec, uint32_t len);
/* Returns 0 with *mono_to_real and *abi set, or -1 with a message in err. */
int ws_evfile_read_header(FILE *f, int64_t *mono_to_real, int *abi, unsigned *flags, char *err, size_t errlen);
/* Reads the next record into *buf (grown as needed): 1 = record, 0 = end,
 * -1 = truncated or corrupt. */
int ws_evfile_read(FILE *f, uint8_t **buf, size_t *cap, uint32_t *len);

#endif

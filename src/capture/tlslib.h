/* tlslib.h -- TLS libraries whose plaintext the TLS probes can see.
 *
 * A binary that defines OpenSSL's API (libssl.so of OpenSSL 1.1 or 3,
 * LibreSSL or BoringSSL as a shared library, or a program linked with it,
 * such as Node, whose executable exports SSL_read and friends) is probed
 * at SSL_read, SSL_read_ex, SSL_write, SSL_write_ex (entry and return) and
 * SSL_set_fd (entry): the probes use only the functions' arguments and
 * return values, never the library's structures, so every version with
 * these functions is seen alike.
 *
 * Not seen: TLS stacks that do not export OpenSSL's API (Go's crypto/tls,
 * rustls, Java's JSSE, GnuTLS, NSS, a statically linked OpenSSL whose
 * symbols were stripped), and kernel TLS offload (the socket then carries
 * plaintext, which is seen as any other). Their connections are counted
 * as TLS that was not decrypted.
 *
 * The file is untrusted (any process's library, read as root): only its
 * symbol tables are read, with every offset checked. */
#ifndef WIRESPAN_TLSLIB_H
#define WIRESPAN_TLSLIB_H

#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "bpf/capture_abi.h"

struct ws_tlslib {
	/* file offsets (what uprobes take) per enum ws_tls_site, 0: absent */
	uint64_t off[WS_TLS_SITE_MAX];
	unsigned nsites;
};

/* Inspect the ELF file open on fd. Returns 1 when it defines SSL_read and
 * SSL_write (out filled), 0 when it does not (quietly: most binaries do
 * not), -errno when it is not a readable ELF file (err says why). */
int ws_tlslib_inspect(int fd, struct ws_tlslib *out, char *err, size_t errlen);
/* The same, on a copy of the file in memory (tests, fuzzing). */
int ws_tlslib_inspect_mem(const void *data, size_t len, struct ws_tlslib *out, char *err, size_t errlen);

/* The first of names[0..n) the ELF file open on fd exports (a defined
 * dynamic symbol, found through its GNU hash table: a few small reads,
 * however large the file), or -1. */
int ws_elf_exports(int fd, const char *const *names, int n);

/* Whether a mapped file's name (its last path component) is that of a
 * shared TLS library worth inspecting: libssl.so*, libboringssl*. */
int ws_tlslib_name(const char *base);

#endif

/* tls_symbols.c -- a stand-in TLS library: OpenSSL's five probed
 * functions, and nothing else (the seed of fuzz_tlslib, and what
 * test_tlslib reads as a library). */
int SSL_read(void *ssl, void *buf, int num);
int SSL_read_ex(void *ssl, void *buf, unsigned long num, unsigned long *readbytes);
int SSL_write(void *ssl, const void *buf, int num);
int SSL_write_ex(void *ssl, const void *buf, unsigned long num, unsigned long *written);
int SSL_set_fd(void *ssl, int fd);

int SSL_read(void *ssl, void *buf, int num) { return ssl && buf ? num : -1; }
int SSL_read_ex(void *ssl, void *buf, unsigned long num, unsigned long *readbytes)
{
	*readbytes = num;
	return ssl && buf;
}
int SSL_write(void *ssl, const void *buf, int num) { return ssl && buf ? num + 1 : -2; }
int SSL_write_ex(void *ssl, const void *buf, unsigned long num, unsigned long *written)
{
	*written = num;
	return ssl && buf ? 1 : 0;
}
int SSL_set_fd(void *ssl, int fd) { return ssl && fd >= 0; }

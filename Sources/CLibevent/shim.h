#ifndef RESUB_CLIBEVENT_SHIM_H
#define RESUB_CLIBEVENT_SHIM_H
// The system headers come first: libevent's event-config.h defines _GNU_SOURCE, and if an event2/ header
// is the first to pull in <sys/select.h> the clang importer sees two different fd_set definitions.
#include <sys/types.h>
#include <sys/time.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <unistd.h>
#include <fcntl.h>
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>

#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>


/// Names the calling thread (Linux: at most 15 bytes), for top -H and debuggers.
static inline int resub_set_thread_name(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }


/// SNI: SSL_set_tlsext_host_name is a macro.
static inline long resub_ssl_set_sni(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}

/// Refuse TLS before 1.2: SSL_CTX_set_min_proto_version is a macro.
static inline long resub_ssl_ctx_min_tls12(SSL_CTX *ctx) {
    return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

/// The first OpenSSL error of this thread as text (and clears the queue).
static inline void resub_ssl_error(char *buffer, size_t length) {
    unsigned long e = ERR_get_error();
    if (e == 0) { if (length) buffer[0] = 0; return; }
    ERR_error_string_n(e, buffer, length);
    ERR_clear_error();
}

#endif

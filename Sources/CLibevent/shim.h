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


/// Names the calling thread (Linux: at most 15 bytes), for top -H and debuggers.
static inline int resub_set_thread_name(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }

#endif

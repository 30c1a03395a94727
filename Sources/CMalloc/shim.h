// glibc's malloc extensions (malloc_trim), which the Glibc module does not export. Only FreeMemory imports it.
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif

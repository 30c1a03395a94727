// glibc functions the Glibc module does not export: malloc_trim (FreeMemory), and the start-up code's pages
// given back through dl_iterate_phdr (StartupCodePages, ReleaseSegments.c). Only Sources/ResubService/Memory
// (and Benchmarks) import it.
#ifndef RESUB_CGLIBCEXTRAS_H
#define RESUB_CGLIBCEXTRAS_H
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>

/// MADV_DONTNEED on the loadable segments that are not writable, of the executable and every shared library
/// (the vDSO excepted); returns the bytes advised.
long resub_release_readonly_segments(void);
#endif
#endif

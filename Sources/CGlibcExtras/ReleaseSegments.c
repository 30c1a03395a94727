// dl_iterate_phdr's struct dl_phdr_info needs _GNU_SOURCE, which is defined for this file alone: in a header
// that Swift imports it would change how <sys/select.h> declares fd_set, and clang then refuses to merge that
// module's view with another module's (CLibYAML's) in the same target.
#define _GNU_SOURCE
#include "CGlibcExtras.h"
#if defined(__GLIBC__) || defined(__linux__)
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int release_readonly_segments_of(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    long *advised = (long *)data;
    // The kernel's vDSO is not a file mapping: left alone.
    if (info->dlpi_name != NULL && strncmp(info->dlpi_name, "linux-vdso", 10) == 0) return 0;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[i];
        if (header->p_type != PT_LOAD || (header->p_flags & PF_W)) continue;
        uintptr_t start = (uintptr_t)info->dlpi_addr + header->p_vaddr;
        uintptr_t end = start + header->p_memsz;
        // Whole pages inside the segment only: a page shared with a writable segment is left alone.
        uintptr_t first = (start + page - 1) / page * page;
        uintptr_t last = end / page * page;
        if (last > first && madvise((void *)first, last - first, MADV_DONTNEED) == 0) *advised += (long)(last - first);
    }
    return 0;
}

long resub_release_readonly_segments(void) {
    long advised = 0;
    dl_iterate_phdr(release_readonly_segments_of, &advised);
    return advised;
}
#endif

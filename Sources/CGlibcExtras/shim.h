// glibc functions the Glibc module does not export: malloc_trim (FreeMemory), and dl_iterate_phdr wrapped in
// resub_release_readonly_segments (StartupCodePages). Only Sources/ResubService/Memory imports it.
#if defined(__GLIBC__) || defined(__linux__)
// No feature-test macros here: defining one (_GNU_SOURCE) changes how <sys/select.h> declares fd_set, and clang
// then refuses to merge this module's view of it with another module's (CLibYAML's) in the same target.
#include <malloc.h>
#include <link.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string.h>

static int resub_release_readonly_segments_of(struct dl_phdr_info *info, size_t size, void *data) {
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

/// MADV_DONTNEED on the loadable segments that are not writable, of the executable and every shared library;
/// returns the bytes advised.
static inline long resub_release_readonly_segments(void) {
    long advised = 0;
    dl_iterate_phdr(resub_release_readonly_segments_of, &advised);
    return advised;
}
#endif

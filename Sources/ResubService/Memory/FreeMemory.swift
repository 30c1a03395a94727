#if canImport(Glibc)
import CGlibcExtras
#endif

/// Gives the allocator's free memory back to the system. Reading a large configuration allocates and frees
/// tens of MiB (the raw lists, the layered settings); glibc keeps freed memory in its arenas, so without
/// this the service would stay at its loading peak for its whole life.
package enum FreeMemory {
    /// Releases free heap pages (glibc `malloc_trim`); a no-op elsewhere.
    package static func giveBack() {
        #if canImport(Glibc)
        _ = malloc_trim(0)
        #endif
    }
}

#if canImport(Glibc)
import CGlibcExtras
#endif

/// Gives back the resident pages of the executable's read-only segments (code, read-only data) once the
/// service is up, so that at rest it keeps only the code it runs at rest.
///
/// Why: the kernel maps up to 64 KiB around every page of a file mapping that is touched ("fault-around"), so
/// start-up code (argument parsing, configuration, the first connection, the replay) leaves ~10 MiB of the
/// binary resident, though most of it never runs again. These pages are clean and backed by the file:
/// `MADV_DONTNEED` only unmaps them from this process (the page cache keeps them), and a page that runs again
/// is mapped again on its next use, at the cost of a minor fault. Nothing written is dropped: only segments
/// without write permission are advised (relocated data lives in the writable segment; the release build has
/// no text relocations). Measured at rest (Benchmarks/memory.sh): README's Performance section.
package enum StartupCodePages {
    /// Advises the executable's non-writable loadable segments away; returns how many bytes were advised
    /// (0 where this is not Linux, or nothing was found). Call once, on any thread, after start-up.
    @discardableResult
    package static func release() -> Int {
        #if canImport(Glibc)
        return resub_release_readonly_segments()
        #else
        return 0
        #endif
    }
}

import DequeModule
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import LibeventLoop
import Logging
import Resub

/// An append-only on-disk queue of webhook request bodies, so that nothing received is lost while the
/// receiver is down or slow, nor across a restart (`kill -9` included).
///
/// Layout: `segment-00000001.log`, … (a new segment past 16 MiB), a `cursor` file naming the first record
/// not yet acknowledged, and `dead-letter.jsonl` for requests the receiver rejected. A record is
/// `"RSP2"` + length (u32 LE) + CRC-32 of the payload (u32 LE) + payload, the payload being
/// lane (u16 LE) + message count (u32 LE) + id length (u8) + the request's `webhook-id` + body, so a batch
/// keeps its id across a restart. Records of the earlier `"RSP1"` format (no id) are still read; they get a
/// new id. A record whose magic or checksum is wrong is skipped with a log line, and reading resumes at the
/// next valid record.
///
/// Durability (the fsync policy): every append is written with `write(2)` at once, so it survives the
/// process being killed; the segment is `fdatasync`ed at most once a second (by the appends, and by the
/// runner's one-second ``tick()`` when appends stop) and on close, so a power loss can cost up to the last
/// second. Acknowledgements move the cursor (written, and old segments deleted, at most every 100 ms, at
/// the next tick, and on close): a record delivered but not yet past the written cursor, or acknowledged
/// out of order after an unacknowledged one, is delivered again after a crash (at-least-once).
///
/// Bound: past `maxBytes` of unacknowledged records, appends are refused and counted (the newest data is
/// dropped; nothing queued is evicted).
///
/// All file I/O runs on the spool's own thread; completions are delivered on the loop.
package final class Spool: @unchecked Sendable {
    /// A record's place.
    package struct Ref: Hashable, Sendable, Comparable {
        package var segment: Int
        package var offset: Int
        package static func < (a: Ref, b: Ref) -> Bool { (a.segment, a.offset) < (b.segment, b.offset) }
    }

    /// A record found on disk at start-up, to deliver first.
    package struct Pending: Sendable {
        package var ref: Ref
        package var lane: Int
        package var count: Int
        /// The request's `webhook-id` (nil for a record of the earlier format, which had none).
        package var id: String?
        /// The body, for the first 16 MiB of pending records; later ones are read back when their turn comes.
        package var body: [UInt8]?
    }

    private let directory: String
    package let maxBytes: Int
    private let loop: EventLoop
    private let logger: Logger
    private let worker = Worker(name: "resub-spool")
    // Owned by the worker thread:
    private var segment = 0
    private var fd: Int32 = -1
    private var offset = 0
    private var unsynced = false
    private var lastSync = ContinuousClock.now
    /// Unacknowledged records and their sizes (with their running total).
    private var outstanding: [Ref: Int] = [:]
    /// The same records in file order (appends and recovery both go in order): the cursor advances by
    /// popping acknowledged ones from the front.
    private var order = Deque<Ref>()
    private var outstandingBytes = 0
    private var acked: Set<Ref> = []
    private var cursor = Ref(segment: 1, offset: 0)
    private var lastCursorWrite = ContinuousClock.now
    private var cursorDirty = false
    private var segmentLimit = 16 << 20
    private var refused = 0
    private var corrupt = 0

    /// Opens (creating) the spool directory and reads the records not yet acknowledged.
    /// - Returns: the spool and what it still holds, in order.
    package static func open(directory: String, maxBytes: Int, loop: EventLoop, logger: Logger) throws -> (Spool, [Pending]) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let spool = Spool(directory: directory, maxBytes: maxBytes, loop: loop, logger: logger)
        let pending = try spool.worker.sync { () throws -> [Pending] in try spool.recover() }
        return (spool, pending)
    }

    private init(directory: String, maxBytes: Int, loop: EventLoop, logger: Logger) {
        self.directory = directory
        self.maxBytes = maxBytes
        self.loop = loop
        self.logger = logger
    }

    private func path(_ segment: Int) -> String {
        directory + "/segment-" + String(repeating: "0", count: max(0, 8 - String(segment).count)) + String(segment) + ".log"
    }

    // MARK: Recovery (worker thread)

    private func recover() throws -> [Pending] {
        if let text = try? String(contentsOfFile: directory + "/cursor", encoding: .utf8) {
            let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
            if parts.count == 2 { cursor = Ref(segment: parts[0], offset: parts[1]) }
        }
        let segments = (try FileManager.default.contentsOfDirectory(atPath: directory))
            .compactMap { name -> Int? in
                guard name.hasPrefix("segment-"), name.hasSuffix(".log") else { return nil }
                return Int(name.dropFirst(8).dropLast(4))
            }
            .sorted()
        var pending: [Pending] = []
        var kept = 0
        for number in segments {
            if number < cursor.segment {
                unlink(path(number))
                continue
            }
            guard let data = FileManager.default.contents(atPath: path(number)) else { continue }
            let bytes = [UInt8](data)
            var position = number == cursor.segment ? min(cursor.offset, bytes.count) : 0
            while position < bytes.count {
                guard let (record, next) = Self.decode(bytes, at: position) else {
                    // Corrupt: skip to the next valid record, if any.
                    corrupt += 1
                    var resync = position + 1
                    while resync < bytes.count, Self.decode(bytes, at: resync) == nil { resync += 1 }
                    logger.error("spool: corrupt record skipped", metadata: [
                        "segment": "\(path(number))", "offset": "\(position)", "skipped_bytes": "\(resync - position)",
                    ])
                    position = resync
                    continue
                }
                let ref = Ref(segment: number, offset: position)
                outstanding[ref] = next - position
                order.append(ref)
                outstandingBytes += next - position
                let keep = kept < 16 << 20
                if keep { kept += record.body.count }
                pending.append(Pending(ref: ref, lane: record.lane, count: record.count, id: record.id, body: keep ? record.body : nil))
                position = next
            }
        }
        segment = (segments.last ?? 0) + 1
        try openSegment()
        if pending.isEmpty {
            cursor = Ref(segment: segment, offset: 0)
            writeCursor()
        }
        return pending
    }

    /// A decoded record.
    package struct Record: Equatable, Sendable {
        /// The webhook lane it was sealed on.
        package var lane: Int
        /// Messages in the body.
        package var count: Int
        /// The request's `webhook-id` (nil in the earlier `RSP1` format).
        package var id: String?
        /// The request body.
        package var body: [UInt8]

        /// A record as decoded.
        package init(lane: Int, count: Int, id: String?, body: [UInt8]) {
            self.lane = lane
            self.count = count
            self.id = id
            self.body = body
        }
    }

    /// Decodes the record at `position`; nil when the bytes there are not a whole valid record.
    package static func decode(_ bytes: [UInt8], at position: Int) -> (record: Record, next: Int)? {
        guard bytes.count - position >= 18, bytes[position] == 0x52, bytes[position + 1] == 0x53,
              bytes[position + 2] == 0x50, bytes[position + 3] == 0x31 || bytes[position + 3] == 0x32 else { return nil }
        let withID = bytes[position + 3] == 0x32
        let length = Int(u32(bytes, position + 4))
        let crc = u32(bytes, position + 8)
        guard length >= (withID ? 7 : 6), bytes.count - position - 12 >= length else { return nil }
        let payload = bytes[(position + 12)..<(position + 12 + length)]
        guard CRC32.checksum(payload) == crc else { return nil }
        let lane = Int(UInt16(payload[payload.startIndex]) | UInt16(payload[payload.startIndex + 1]) << 8)
        let count = Int(u32(bytes, position + 14))
        var bodyStart = payload.startIndex + 6
        var id: String?
        if withID {
            let idLength = Int(payload[bodyStart])
            guard payload.endIndex - bodyStart - 1 >= idLength else { return nil }
            id = String(decoding: payload[(bodyStart + 1)..<(bodyStart + 1 + idLength)], as: UTF8.self)
            bodyStart += 1 + idLength
        }
        return (Record(lane: lane, count: count, id: id, body: Array(payload[bodyStart...])), position + 12 + length)
    }

    /// Encodes one record (`id`: the request's `webhook-id`, at most 255 bytes).
    package static func encode(lane: Int, count: Int, id: String, body: [UInt8]) -> [UInt8] {
        let idBytes = Array(id.utf8.prefix(255))
        var payload: [UInt8] = []
        payload.reserveCapacity(body.count + 7 + idBytes.count)
        payload += [UInt8(lane & 0xFF), UInt8((lane >> 8) & 0xFF)]
        payload += le32(UInt32(count))
        payload.append(UInt8(idBytes.count))
        payload += idBytes
        payload += body
        return Array("RSP2".utf8) + le32(UInt32(payload.count)) + le32(CRC32.checksum(payload)) + payload
    }

    private static func u32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }

    private static func le32(_ v: UInt32) -> [UInt8] {
        [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)]
    }

    private func openSegment() throws {
        if fd >= 0 {
            fdatasync(fd)
            Glibc.close(fd)
        }
        fd = Glibc.open(path(segment), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SettingsError("--spool-dir: cannot open \(path(segment)): \(String(cString: strerror(errno)))") }
        offset = Int(lseek(fd, 0, SEEK_END))
    }

    // MARK: Operations (any thread; work runs on the worker, completions on the loop)

    /// Appends a body; `completion` (on the loop) gets its place, or nil when the spool is full or the write
    /// failed (counted and logged).
    package func append(lane: Int, count: Int, id: String, body: [UInt8], completion: @escaping @Sendable (Ref?) -> Void) {
        worker.async { [self] in
            let record = Self.encode(lane: lane, count: count, id: id, body: body)
            var ref: Ref?
            if outstandingBytes + record.count > maxBytes {
                refused += count
                logger.error("spool full: batch dropped", metadata: ["messages": "\(count)", "max_bytes": "\(maxBytes)", "dropped_total": "\(refused)"])
            } else {
                if offset + record.count > segmentLimit, offset > 0 {
                    segment += 1
                    try? openSegment()
                }
                let written = record.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if written == record.count {
                    ref = Ref(segment: segment, offset: offset)
                    outstanding[ref!] = record.count
                    order.append(ref!)
                    outstandingBytes += record.count
                    offset += record.count
                    unsynced = true
                    syncIfDue()
                } else {
                    refused += count
                    logger.error("spool write failed: batch dropped", metadata: ["error": "\(String(cString: strerror(errno)))"])
                    offset = Int(lseek(fd, 0, SEEK_END))
                }
            }
            let result = ref
            loop.execute { completion(result) }
        }
    }

    /// Reads a record's body back (for bodies not kept in memory); nil when it is unreadable or corrupt.
    package func read(_ ref: Ref, completion: @escaping @Sendable ([UInt8]?) -> Void) {
        worker.async { [self] in
            var body: [UInt8]?
            let fd = Glibc.open(path(ref.segment), O_RDONLY | O_CLOEXEC)
            if fd >= 0 {
                var header = [UInt8](repeating: 0, count: 12)
                if header.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, 12, off_t(ref.offset)) }) == 12 {
                    let length = Int(Self.u32(header, 4))
                    if length <= maxBytes {
                        var record = header + [UInt8](repeating: 0, count: length)
                        let got = record.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + 12, length, off_t(ref.offset + 12)) }
                        if got == length { body = Self.decode(record, at: 0)?.record.body }
                    }
                }
                Glibc.close(fd)
            }
            let result = body
            loop.execute { completion(result) }
        }
    }

    /// Marks a record delivered (or dead-lettered).
    package func acknowledge(_ ref: Ref) {
        worker.async { [self] in
            guard outstanding[ref] != nil else { return }
            acked.insert(ref)
            advanceCursor(force: false)
        }
    }

    /// Appends a rejected request to `dead-letter.jsonl` (one JSON object per line).
    package func deadLetter(status: Int, body: [UInt8]) {
        worker.async { [self] in
            var line = Array("{\"at\":\"\(RFC3339.now())\",\"status\":\(status),\"body\":".utf8)
            line += body
            line += Array("}\n".utf8)
            let fd = Glibc.open(directory + "/dead-letter.jsonl", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return }
            _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            fdatasync(fd)
            Glibc.close(fd)
        }
    }

    /// Messages refused because the spool was full.
    package var refusedMessages: Int { worker.sync { self.refused } }

    /// Corrupt records skipped at start-up.
    package var corruptRecords: Int { worker.sync { self.corrupt } }

    /// Bytes of unacknowledged records.
    package var bytes: Int { worker.sync { self.outstandingBytes } }

    /// Housekeeping, once a second from the loop: syncs appends not yet synced and writes a cursor that
    /// moved since it was last written.
    package func tick() {
        worker.async { [self] in
            if unsynced, fd >= 0 {
                fdatasync(fd)
                unsynced = false
                lastSync = .now
            }
            if cursorDirty { writeCursor() }
        }
    }

    /// Syncs, writes the cursor and stops the worker.
    package func close() {
        worker.sync { [self] in
            advanceCursor(force: true)
            if fd >= 0 {
                fdatasync(fd)
                Glibc.close(fd)
                fd = -1
            }
        }
        worker.stop()
    }

    // MARK: Worker-thread helpers

    private func syncIfDue() {
        guard unsynced, ContinuousClock.now - lastSync >= .seconds(1) else { return }
        fdatasync(fd)
        unsynced = false
        lastSync = .now
    }

    private func advanceCursor(force: Bool) {
        defer { if force && cursorDirty { writeCursor() } }
        var newCursor: Ref?
        while let first = order.first {
            guard acked.contains(first) else {
                newCursor = first
                break
            }
            order.removeFirst()
            outstandingBytes -= outstanding.removeValue(forKey: first) ?? 0
            acked.remove(first)
        }
        let target = newCursor ?? Ref(segment: segment, offset: offset)
        guard target != cursor else { return }
        cursor = target
        cursorDirty = true
        guard force || ContinuousClock.now - lastCursorWrite >= .milliseconds(100) else { return }
        writeCursor()
    }

    private func writeCursor() {
        lastCursorWrite = .now
        cursorDirty = false
        let temporary = directory + "/cursor.tmp"
        let text = "\(cursor.segment) \(cursor.offset)\n"
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        _ = text.utf8CString.withUnsafeBytes { write(fd, $0.baseAddress, $0.count - 1) }
        fdatasync(fd)
        Glibc.close(fd)
        rename(temporary, directory + "/cursor")
        // Segments wholly before the cursor are delivered: remove them.
        if let names = try? FileManager.default.contentsOfDirectory(atPath: directory) {
            for name in names where name.hasPrefix("segment-") && name.hasSuffix(".log") {
                if let number = Int(name.dropFirst(8).dropLast(4)), number < cursor.segment { unlink(directory + "/" + name) }
            }
        }
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it).
package enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// The checksum of `bytes`.
    package static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

/// A thread that runs closures one at a time, in order.
final class Worker: @unchecked Sendable {
    /// Guards `jobs` and `stopping`; the worker thread waits on it for jobs.
    private let lock = ConditionLock()
    private var jobs: [() -> Void] = []
    private var stopping = false
    private var thread: ThreadStarter.Handle?

    init(name: String) {
        thread = ThreadStarter.start(name: name) { [self] in run() }
    }

    func async(_ job: @escaping () -> Void) {
        lock.lock()
        jobs.append(job)
        lock.signal()
        lock.unlock()
    }

    /// Runs `body` on the worker thread and waits for its result.
    func sync<T>(_ body: @escaping () throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = ConditionLock()
        async {
            let result = Result { try body() }
            done.withLock { box.result = result }
            done.signal()
        }
        done.lock()
        while box.result == nil { done.wait() }
        done.unlock()
        return try box.result!.get()
    }

    /// Runs `body` on the worker thread and waits for its result.
    func sync<T>(_ body: @escaping () -> T) -> T {
        // A non-throwing body: the throwing path cannot fail.
        try! sync { () throws -> T in body() }
    }

    private final class ResultBox<T>: @unchecked Sendable {
        var result: Result<T, any Error>?
    }

    private func run() {
        while true {
            lock.lock()
            while jobs.isEmpty && !stopping { lock.wait() }
            let batch = jobs
            jobs = []
            let stop = stopping && batch.isEmpty
            lock.unlock()
            if stop { return }
            for job in batch { job() }
        }
    }

    func stop() {
        lock.lock()
        stopping = true
        lock.signal()
        lock.unlock()
        thread?.join()
        thread = nil
    }
}

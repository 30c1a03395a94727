// libFuzzer entry point: every input is checked by the differential oracle (Tests/TestSupport/RESPDifferential.swift),
// compiled into one module with Sources/RESP by Fuzz/run.sh.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    if let difference = RESPDifferential.check(input) {
        fatalError("RESP readings differ: \(difference)")
    }
    return 0
}

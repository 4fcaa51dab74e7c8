#if canImport(Glibc)
import Glibc
#endif

/// A problem with one line of an input file, reported as `file:line: reason`.
public struct LineIssue: Error, Sendable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let reason: String
    public init(file: String, line: Int, reason: String) {
        self.file = file
        self.line = line
        self.reason = reason
    }
    /// `file:line: reason`, or `file: reason` for an issue with the whole file (line 0).
    public var description: String { line > 0 ? "\(file):\(line): \(reason)" : "\(file): \(reason)" }
}

/// Reads a file (or stdin for "-") as raw bytes.
public func readAllBytes(path: String) throws -> [UInt8] {
    let fd = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw LineIssue(file: path, line: 0, reason: String(cString: strerror(errno))) }
    defer { if path != "-" { close(fd) } }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw LineIssue(file: path, line: 0, reason: String(cString: strerror(errno)))
        }
        if n == 0 { break }
        out += buf[0..<n]
    }
    return out
}

/// Splits bytes into lines (LF or CRLF), decoding each as strict UTF-8. Lines that are
/// not valid UTF-8 are returned as issues (with their 1-based line number), never
/// crashed on or silently repaired.
public func utf8Lines(_ bytes: [UInt8], file: String) -> [(line: Int, text: Result<String, LineIssue>)] {
    var out: [(Int, Result<String, LineIssue>)] = []
    var start = 0
    var lineNo = 1
    func emit(_ end: Int) {
        var e = end
        if e > start && bytes[e - 1] == 13 { e -= 1 }
        let slice = bytes[start..<e]
        if let s = String(validating: slice, as: UTF8.self) {
            out.append((lineNo, .success(s)))
        } else {
            let bad = firstInvalidUTF8(slice)
            out.append((lineNo, .failure(LineIssue(file: file, line: lineNo, reason: "invalid UTF-8 at byte \(bad) of the line"))))
        }
    }
    for i in 0..<bytes.count where bytes[i] == 10 {
        emit(i)
        start = i + 1
        lineNo += 1
    }
    if start < bytes.count { emit(bytes.count) }
    return out
}

/// Offset of the first byte that breaks UTF-8 in `bytes` (its count when all is valid).
public func firstInvalidUTF8<C: Collection>(_ bytes: C) -> Int where C.Element == UInt8 {
    var it = bytes.makeIterator()
    var decoder = UTF8()
    var offset = 0
    while true {
        switch decoder.decode(&it) {
        case .scalarValue(let s): offset += UTF8.width(s)
        case .emptyInput: return offset
        case .error: return offset
        }
    }
}

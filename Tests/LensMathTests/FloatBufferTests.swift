import Foundation
import Testing
import LensMath

/// The smaps block of the mapping that holds `address` (Linux), or nil.
private func smapsEntry(containing address: UInt) -> [String]? {
    guard let text = try? String(contentsOfFile: "/proc/self/smaps", encoding: .utf8) else { return nil }
    var block: [String]? = nil
    for line in text.split(separator: "\n").map(String.init) {
        let head = line.split(separator: " ").first.map(String.init) ?? ""
        let bounds = head.split(separator: "-")
        if bounds.count == 2, let lo = UInt(bounds[0], radix: 16), let hi = UInt(bounds[1], radix: 16) {
            if block != nil { return block }
            if lo <= address && address < hi { block = [line] }
        } else if block != nil {
            block!.append(line)
        }
    }
    return block
}

/// Large buffers start on a 2 MiB boundary and carry the huge-page advice (the kernel's own
/// smaps says whether the mapping may get transparent huge pages); small ones stay 64-byte
/// aligned without it. Both are zero and writable end to end.
@Test func largeBuffersAskForHugePages() throws {
    let large = FloatBuffer(count: 16 << 20 / 4)
    let small = FloatBuffer(count: 1000)
    #expect(UInt(bitPattern: large.pointer) % (2 << 20) == 0)
    #expect(UInt(bitPattern: small.pointer) % 64 == 0)
    for b in [large, small] {
        #expect((0..<b.count).allSatisfy { b[$0] == 0 })
        b[b.count - 1] = 1
        #expect(b[b.count - 1] == 1)
    }
    #if os(Linux)
    let mode = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? ""
    guard mode.contains("[always]") || mode.contains("[madvise]"),
          let entry = smapsEntry(containing: UInt(bitPattern: large.pointer)),
          let eligible = entry.first(where: { $0.hasPrefix("THPeligible:") }) else { return }
    #expect(eligible.hasSuffix("1"), "smaps: \(eligible) (THP mode \(mode.trimmingCharacters(in: .whitespacesAndNewlines)))")
    if mode.contains("[madvise]"), let flags = entry.first(where: { $0.hasPrefix("VmFlags:") }) {
        #expect(flags.contains(" hg"), "no huge-page advice on the mapping: \(flags)")
    }
    #endif
}

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

/// The kernel's transparent-huge-page mode line ("always [madvise] never"), "" if unknown.
private func thpMode() -> String {
    (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? ""
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
    let mode = thpMode()
    guard mode.contains("[always]") || mode.contains("[madvise]"),
          let entry = smapsEntry(containing: UInt(bitPattern: large.pointer)),
          let eligible = entry.first(where: { $0.hasPrefix("THPeligible:") }) else { return }
    #expect(eligible.hasSuffix("1"), "smaps: \(eligible) (THP mode \(mode.trimmingCharacters(in: .whitespacesAndNewlines)))")
    if mode.contains("[madvise]"), let flags = entry.first(where: { $0.hasPrefix("VmFlags:") }) {
        #expect(flags.contains(" hg"), "no huge-page advice on the mapping: \(flags)")
    }
    #endif
}

/// Scratch buffers grow from ordinary allocations to mappings that grow in place: what was
/// written survives growth (the mapping was extended, not replaced, so its pages are not faulted
/// in again), a smaller request reuses the buffer, and the whole new capacity is writable.
@Test func scratchBuffersGrowInPlace() {
    let s = ScratchBuffer()
    let tiny = s.reserve(100)
    tiny[99] = 7
    #expect(s.capacity >= 100)
    let n1 = (FloatBuffer.hugePageMinimumBytes / 4) * 2, n2 = n1 * 3 + 123
    let p1 = s.reserve(n1)
    #expect(s.capacity >= n1 && UInt(bitPattern: p1) % 4096 == 0)
    for i in stride(from: 0, to: n1, by: 1021) { p1[i] = Float(i) }
    #expect(s.reserve(n1 / 2) == p1)
    let p2 = s.reserve(n2)
    #expect(s.capacity >= n2)
    #expect(stride(from: 0, to: n1, by: 1021).allSatisfy { p2[$0] == Float($0) })
    p2[n2 - 1] = 1
    #expect(p2[n2 - 1] == 1 && p2[n1 + 5] == 0)
    #if os(Linux)
    if thpMode().contains("[madvise]"), let flags = smapsEntry(containing: UInt(bitPattern: p2))?.first(where: { $0.hasPrefix("VmFlags:") }) {
        #expect(flags.contains(" hg"), "no huge-page advice on the grown mapping: \(flags)")
    }
    #endif
}

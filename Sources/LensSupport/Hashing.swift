/// A fast non-cryptographic 128-bit content hash (two decorrelated 64-bit FNV-1a lanes
/// with a murmur-style finaliser). Used to key texts and fingerprint files; not meant to
/// resist adversaries.
public struct ContentHash: Hashable, Sendable, CustomStringConvertible {
    public var a: UInt64
    public var b: UInt64

    public init(a: UInt64, b: UInt64) { self.a = a; self.b = b }

    public static func of(_ s: String) -> ContentHash {
        var h = Hasher128()
        var s = s
        s.withUTF8 { h.update($0) }
        return h.finalize()
    }

    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: a >> (8 * UInt64($0))) } + (0..<8).map { UInt8(truncatingIfNeeded: b >> (8 * UInt64($0))) }
    }

    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 16 else { return nil }
        a = 0; b = 0
        for i in 0..<8 { a |= UInt64(bytes[i]) << (8 * UInt64(i)); b |= UInt64(bytes[8 + i]) << (8 * UInt64(i)) }
    }

    public var description: String {
        let hex = { (x: UInt64) -> String in let s = String(x, radix: 16); return String(repeating: "0", count: 16 - s.count) + s }
        return hex(a) + hex(b)
    }
}

/// Incremental form of `ContentHash`.
public struct Hasher128: Sendable {
    var a: UInt64 = 0xcbf2_9ce4_8422_2325
    var b: UInt64 = 0x8422_2325_cbf2_9ce4 ^ 0x9E37_79B9_7F4A_7C15
    var length: UInt64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeBufferPointer<UInt8>) {
        var a = self.a, b = self.b
        for x in bytes {
            a = (a ^ UInt64(x)) &* 0x100_0000_01b3
            b = (b ^ UInt64(x)) &* 0x0000_0100_0000_01b3 &+ 0x9E37_79B9
        }
        self.a = a
        self.b = b
        length &+= UInt64(bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBufferPointer { update($0) } }
    public mutating func update(_ s: String) { var s = s; s.withUTF8 { update($0) } }
    public mutating func update(_ v: UInt64) { var v = v; withUnsafeBytes(of: &v) { update(Array($0)) } }

    public func finalize() -> ContentHash {
        func mix(_ x: UInt64) -> UInt64 {
            var z = x
            z = (z ^ (z >> 33)) &* 0xff51_afd7_ed55_8ccd
            z = (z ^ (z >> 33)) &* 0xc4ce_b9fe_1a85_ec53
            return z ^ (z >> 33)
        }
        return ContentHash(a: mix(a ^ length), b: mix(b &+ mix(a) ^ length))
    }
}

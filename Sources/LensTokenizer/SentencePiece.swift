import CSentencePiece

/// A failure loading or running a SentencePiece model.
public struct TokenizerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Swift wrapper over libsentencepiece through the plain-C shim in `CSentencePiece`
/// (no C++ interop reaches Swift code). Thread-safe: libsentencepiece's encode and
/// decode are const and reentrant.
public final class SentencePieceProcessor: @unchecked Sendable {
    private let handle: OpaquePointer

    /// Loads a serialized `ModelProto` (`tokenizer.model`).
    public init(modelPath: String) throws {
        var err = [CChar](repeating: 0, count: 512)
        guard let h = spm_load(modelPath, &err, err.count) else {
            throw TokenizerError("cannot load SentencePiece model \(modelPath): \(Self.string(err))")
        }
        handle = h
    }

    /// Loads a model from its serialized bytes.
    public init(serializedModel bytes: [UInt8]) throws {
        var err = [CChar](repeating: 0, count: 512)
        let h = bytes.withUnsafeBytes { spm_load_from_memory($0.baseAddress, $0.count, &err, err.count) }
        guard let h else { throw TokenizerError("cannot load SentencePiece model: \(Self.string(err))") }
        handle = h
    }

    deinit { spm_free(handle) }

    private static func string(_ cs: [CChar]) -> String {
        String(decoding: cs.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var vocabularySize: Int { Int(spm_vocab_size(handle)) }
    public var bosID: Int32 { spm_bos_id(handle) }
    public var eosID: Int32 { spm_eos_id(handle) }
    public var unkID: Int32 { spm_unk_id(handle) }
    public var padID: Int32 { spm_pad_id(handle) }

    /// Encodes UTF-8 bytes; each piece carries the byte range it covers in `utf8`.
    /// Byte-fallback pieces of one character: the last carries the character's range,
    /// the others an empty range at its start (libsentencepiece's convention).
    public func encode(utf8: UnsafeBufferPointer<UInt8>) -> [(id: Int32, begin: Int, end: Int)] {
        let text = UnsafeRawPointer(utf8.baseAddress)?.assumingMemoryBound(to: CChar.self)
        var cap = max(16, utf8.count + 8)
        while true {
            var out = [spm_piece](repeating: spm_piece(), count: cap)
            let n = spm_encode(handle, text, utf8.count, &out, cap)
            if n < 0 { return [] }
            if n <= cap {
                return out.prefix(Int(n)).map { (id: $0.id, begin: Int($0.begin), end: Int($0.end)) }
            }
            cap = Int(n)
        }
    }

    /// Ids only.
    public func encodeIDs(_ text: String) -> [Int32] {
        var text = text
        return text.withUTF8 { utf8 in
            let chars = UnsafeRawPointer(utf8.baseAddress)?.assumingMemoryBound(to: CChar.self)
            var cap = max(16, utf8.count + 8)
            while true {
                var out = [Int32](repeating: 0, count: cap)
                let n = spm_encode_ids(handle, chars, utf8.count, &out, cap)
                if n < 0 { return [] }
                if n <= cap { return Array(out.prefix(Int(n))) }
                cap = Int(n)
            }
        }
    }

    public func decode(_ ids: [Int32]) -> String {
        var len = 0
        guard let buf = ids.withUnsafeBufferPointer({ spm_decode_ids(handle, $0.baseAddress, $0.count, &len) }) else { return "" }
        defer { spm_free_buf(buf) }
        return String(decoding: UnsafeRawBufferPointer(start: buf, count: len), as: UTF8.self)
    }

    /// The piece string of an id, or nil when out of range.
    public func piece(for id: Int32) -> String? {
        var len = 0
        guard let buf = spm_id_to_piece(handle, Int32(id), &len) else { return nil }
        defer { spm_free_buf(buf) }
        return String(decoding: UnsafeRawBufferPointer(start: buf, count: len), as: UTF8.self)
    }

    /// The id of a piece (the unknown id when absent).
    public func id(for piece: String) -> Int32 {
        var piece = piece
        return piece.withUTF8 { u in
            Int32(spm_piece_to_id(handle, UnsafeRawPointer(u.baseAddress)?.assumingMemoryBound(to: CChar.self), u.count))
        }
    }

    public func isControl(_ id: Int32) -> Bool { spm_is_control(handle, id) != 0 }
    public func isUnknown(_ id: Int32) -> Bool { spm_is_unknown(handle, id) != 0 }
    public func isByte(_ id: Int32) -> Bool { spm_is_byte(handle, id) != 0 }
}

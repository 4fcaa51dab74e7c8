/// Errors reading a model folder: config, tokenizer, safetensors files and their index.
/// Every case names the file, and where it applies the tensor and byte offset.
public enum CheckpointError: Error, Equatable, Sendable {
    /// A file could not be opened, read or mapped.
    case io(file: String, reason: String)
    /// Fewer than 8 bytes: no room for the header length.
    case fileTooShort(file: String, size: Int)
    /// The u64 header length at byte 0 does not fit the file.
    case badHeaderLength(file: String, headerLength: UInt64, fileSize: Int)
    /// The JSON header at byte 8 is not a valid safetensors header.
    case badHeader(file: String, reason: String)
    /// A tensor entry lacks a field or has a malformed one.
    case badTensorEntry(file: String, tensor: String, reason: String)
    /// A dtype this engine does not read (it reads F32, F16, BF16).
    case unknownDType(file: String, tensor: String, dtype: String)
    /// The tensor's bytes lie outside the file (absolute offsets).
    case tensorOutOfRange(file: String, tensor: String, byteOffset: Int, byteEnd: Int, fileSize: Int)
    /// `data_offsets` do not span `product(shape) × sizeof(dtype)` bytes.
    case tensorSizeMismatch(file: String, tensor: String, byteOffset: Int, expectedBytes: Int, actualBytes: Int)
    /// Two tensors share bytes.
    case overlappingTensors(file: String, first: String, second: String, byteOffset: Int)
    /// `model.safetensors.index.json` is malformed or disagrees with the shards.
    case badIndex(file: String, reason: String)
    /// Neither `model.safetensors` nor `model.safetensors.index.json` is in the folder.
    case noWeights(folder: String)
    /// Strict loading: every tensor the config needs that is missing, every tensor the
    /// checkpoint has that nothing reads, and every shape that differs — all at once.
    case tensorMismatch(missing: [String], unexpected: [String], wrongShape: [ShapeMismatch])
    /// `config.json` is missing a key, has a wrong type, or an inconsistent value.
    case badConfig(file: String, key: String, reason: String)
    /// The tokenizer could not be loaded.
    case badTokenizer(file: String, reason: String)
}

/// One wrong-shape tensor in a strict load.
public struct ShapeMismatch: Equatable, Sendable, CustomStringConvertible {
    public var tensor: String
    public var expected: [Int]
    public var found: [Int]
    public var description: String { "\(tensor): expected \(expected), found \(found)" }
}

extension CheckpointError: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .io(file, reason): return "\(file): \(reason)"
        case let .fileTooShort(file, size):
            return "\(file): not a safetensors file: \(size) bytes, too short for the 8-byte header length at byte 0"
        case let .badHeaderLength(file, len, size):
            return "\(file): bad safetensors header length \(len) at byte 0 (file is \(size) bytes)"
        case let .badHeader(file, reason): return "\(file): bad safetensors header at byte 8: \(reason)"
        case let .badTensorEntry(file, tensor, reason): return "\(file): tensor \(tensor): \(reason)"
        case let .unknownDType(file, tensor, dtype):
            return "\(file): tensor \(tensor): unsupported dtype \(dtype) (LatentLens reads F32, F16 and BF16)"
        case let .tensorOutOfRange(file, tensor, off, end, size):
            return "\(file): tensor \(tensor): bytes \(off)..<\(end) lie outside the file (\(size) bytes); the file is truncated or corrupt"
        case let .tensorSizeMismatch(file, tensor, off, expected, actual):
            return "\(file): tensor \(tensor) at byte \(off): shape × dtype needs \(expected) bytes but data_offsets span \(actual)"
        case let .overlappingTensors(file, a, b, off):
            return "\(file): tensors \(a) and \(b) overlap at byte \(off)"
        case let .badIndex(file, reason): return "\(file): \(reason)"
        case let .noWeights(folder):
            return "\(folder): no model.safetensors or model.safetensors.index.json"
        case let .tensorMismatch(missing, unexpected, wrong):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing \(missing.count): " + missing.joined(separator: ", ")) }
            if !unexpected.isEmpty { parts.append("unexpected \(unexpected.count): " + unexpected.joined(separator: ", ")) }
            if !wrong.isEmpty { parts.append("wrong shape \(wrong.count): " + wrong.map(\.description).joined(separator: "; ")) }
            return "checkpoint does not match its config: " + parts.joined(separator: " | ")
        case let .badConfig(file, key, reason): return "\(file): \(key): \(reason)"
        case let .badTokenizer(file, reason): return "\(file): \(reason)"
        }
    }
}

/// Errors embedding a text.
public enum EmbeddingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Nothing is left to pool: the instruction covers every position that survived truncation.
    case emptyPool(index: Int, tokens: Int, masked: Int)
    /// Latent pooling was asked of a model without a latent-attention block.
    case noLatentBlock(model: String)
    /// A bad argument, such as `maxLength < 2`.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .emptyPool(index, tokens, masked):
            return "input \(index): empty pool: all \(tokens) tokens are instruction (\(masked) masked); raise --max-length or shorten the instruction"
        case let .noLatentBlock(model):
            return "\(model) has no latent-attention block (a plain decoder checkpoint): use --pooling mean or eos"
        case let .invalidArgument(s): return s
        }
    }
}

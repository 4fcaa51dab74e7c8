import Foundation
import LensMath
import LensSupport

/// Writes safetensors files: sorted tensor names, 8-byte aligned data (the header is
/// padded with spaces, as the reference writer does), F32, F16 or BF16.
public enum SafetensorsWriter {
    public struct Tensor {
        public var name: String
        public var shape: [Int]
        public var values: UnsafeBufferPointer<Float>
        public init(name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// Writes `tensors` as `dtype` to `path` atomically (temporary file, then rename).
    public static func write(_ tensors: [Tensor], dtype: DType, to path: String, metadata: [String: String] = ["format": "pt"]) throws {
        let sorted = tensors.sorted { $0.name < $1.name }
        var header = "{"
        var offset = 0
        var parts: [String] = []
        for t in sorted {
            precondition(t.shape.reduce(1, *) == t.values.count, "shape/count mismatch for \(t.name)")
            let bytes = t.values.count * dtype.byteSize
            let shape = t.shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(t.name)):{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        if !metadata.isEmpty {
            let m = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }.joined(separator: ",")
            parts.append("\"__metadata__\":{\(m)}")
        }
        header += parts.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }
        var data = Data(capacity: 8 + headerBytes.count + offset)
        var n = UInt64(headerBytes.count).littleEndian
        withUnsafeBytes(of: &n) { data.append(contentsOf: $0) }
        data.append(contentsOf: headerBytes)
        for t in sorted {
            switch dtype {
            case .f32:
                data.append(UnsafeBufferPointer(start: UnsafeRawPointer(t.values.baseAddress!).assumingMemoryBound(to: UInt8.self), count: t.values.count * 4))
            case .f16, .bf16:
                var half = [UInt16](repeating: 0, count: t.values.count)
                half.withUnsafeMutableBufferPointer { h in
                    if dtype == .f16 {
                        HalfPrecision.f32ToF16(t.values.baseAddress!, h.baseAddress!, count: t.values.count)
                    } else {
                        HalfPrecision.f32ToBF16(t.values.baseAddress!, h.baseAddress!, count: t.values.count)
                    }
                }
                half.withUnsafeBytes { data.append(contentsOf: $0) }
            }
        }
        let tmp = path + ".tmp-\(getpid())"
        do {
            try data.write(to: URL(fileURLWithPath: tmp))
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: tmp, toPath: path)
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw CheckpointError.io(file: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    private static func jsonString(_ s: String) -> String { JSONWriter.quote(s) }
}

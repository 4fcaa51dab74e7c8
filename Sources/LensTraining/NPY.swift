import Foundation
import LensMath

/// Reads 1-D or 2-D little-endian `<f2` / `<f4` .npy arrays (C order) as f32.
public enum NPY {
    public static func read(path: String) throws -> (values: FloatBuffer, shape: [Int]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw TrainingError.io("cannot read \(path)") }
        let bytes = [UInt8](data)
        guard bytes.count > 10, bytes[0] == 0x93, bytes[1...5].elementsEqual("NUMPY".utf8) else {
            throw TrainingError.badData("\(path): not a .npy file")
        }
        let major = bytes[6]
        let headerLen: Int, start: Int
        if major == 1 {
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        } else {
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        }
        guard start + headerLen <= bytes.count else { throw TrainingError.badData("\(path): truncated header") }
        let header = String(decoding: bytes[start..<start + headerLen], as: UTF8.self)
        guard header.contains("'fortran_order': False") else { throw TrainingError.badData("\(path): Fortran order not supported") }
        let isF16 = header.contains("'<f2'"), isF32 = header.contains("'<f4'")
        guard isF16 || isF32 else { throw TrainingError.badData("\(path): dtype must be <f2 or <f4 (\(header))") }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw TrainingError.badData("\(path): no shape")
        }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let dataStart = start + headerLen
        guard dataStart + count * (isF16 ? 2 : 4) <= bytes.count else { throw TrainingError.badData("\(path): truncated data") }
        let out = FloatBuffer(count: count)
        bytes.withUnsafeBufferPointer { b in
            let raw = UnsafeRawPointer(b.baseAddress! + dataStart)
            if isF16 {
                let tmp = UnsafeMutablePointer<UInt16>.allocate(capacity: count)
                defer { tmp.deallocate() }
                UnsafeMutableRawPointer(tmp).copyMemory(from: raw, byteCount: count * 2)
                HalfPrecision.f16ToF32(tmp, out.pointer, count: count)
            } else {
                UnsafeMutableRawPointer(out.pointer).copyMemory(from: raw, byteCount: count * 4)
            }
        }
        return (out, shape)
    }
}

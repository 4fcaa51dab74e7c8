import Foundation
import LensModel

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let modelFixtures = repoRoot.appendingPathComponent("Tests/LensModelTests/Fixtures")
func fixture(_ name: String) -> String { modelFixtures.appendingPathComponent(name).path }
let mistralTokenizerPath = repoRoot.appendingPathComponent("Models/mistral-tokenizer/tokenizer.model").path

func maxAbsDiff(_ a: [Float], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    return zip(a, b).map { abs(Double($0) - $1) }.max() ?? 0
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// A fresh temporary directory, removed by the caller.
func temporaryDirectory(_ tag: String = "t") -> String {
    let p = NSTemporaryDirectory() + "latentlens-\(tag)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
    return p
}

/// reference.json written by scripts/make_tiny_checkpoints.py.
struct ReferenceFile: Decodable {
    struct Output: Decodable {
        let ids: [Int32]
        let pool_mask: [Int]
        let truncated: Bool
        let latent: [Double]?
        let mean: [Double]
        let eos: [Double]
        let shares: [String: [Double]]?
        let latent_probabilities: [[[Double]]]?
    }
    struct Case: Decodable {
        let name: String
        let texts: [String]
        let instruction: String
        let mask: String
        let max_length: Int
        let trace: Bool?
        let outputs: [Output]
    }
    let cases: [Case]

    static func load(_ folder: String) throws -> ReferenceFile {
        try JSONDecoder().decode(ReferenceFile.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/reference.json")))
    }
}

import Foundation
import Testing
import LensModel

/// Corrupt, truncated and mismatched checkpoints give typed errors naming the file,
/// tensor and byte offset — never a crash.
@Suite struct CheckpointTests {
    let source = fixture("tiny-nvembed-bf16") + "/model.safetensors"

    func copyFolder(_ name: String) throws -> String {
        let dir = temporaryDirectory("ckpt")
        for f in try FileManager.default.contentsOfDirectory(atPath: fixture(name)) {
            try FileManager.default.copyItem(atPath: fixture(name) + "/" + f, toPath: dir + "/" + f)
        }
        return dir
    }

    func withHeader(_ mutate: (inout [String: Any]) -> Void) throws -> String {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        let n = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + n))) as! [String: Any]
        mutate(&header)
        let h = try JSONSerialization.data(withJSONObject: header)
        var out = Data()
        var len = UInt64(h.count)
        withUnsafeBytes(of: &len) { out.append(contentsOf: $0) }
        out.append(h)
        out.append(bytes.subdata(in: (8 + n)..<bytes.count))
        let path = temporaryDirectory("hdr") + "/model.safetensors"
        try out.write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func shortFileAndBadHeaderLength() throws {
        let dir = temporaryDirectory("short")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = dir + "/model.safetensors"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: p))
        #expect(throws: CheckpointError.fileTooShort(file: p, size: 3)) { _ = try SafetensorsFile(path: p) }
        var big = Data(count: 16)
        big[7] = 0x7F   // header length ≈ 9e18
        try big.write(to: URL(fileURLWithPath: p))
        #expect { _ = try SafetensorsFile(path: p) } throws: { e in
            guard case CheckpointError.badHeaderLength(let f, _, 16) = e else { return false }
            return f == p
        }
        try Data(count: 0).write(to: URL(fileURLWithPath: p))
        #expect(throws: CheckpointError.fileTooShort(file: p, size: 0)) { _ = try SafetensorsFile(path: p) }
    }

    @Test func truncatedFileNamesTensorAndOffset() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        let dir = temporaryDirectory("trunc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = dir + "/model.safetensors"
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: p))
        #expect { _ = try SafetensorsFile(path: p) } throws: { e in
            guard case CheckpointError.tensorOutOfRange(let f, let tensor, let off, let end, let size) = e else { return false }
            return f == p && !tensor.isEmpty && off > 0 && end > size && size == bytes.count - 100
        }
    }

    @Test func unknownDTypeAndBadEntries() throws {
        let p1 = try withHeader { h in
            var e = h["embedding_model.norm.weight"] as! [String: Any]
            e["dtype"] = "F8_E4M3"
            h["embedding_model.norm.weight"] = e
        }
        #expect(throws: CheckpointError.unknownDType(file: p1, tensor: "embedding_model.norm.weight", dtype: "F8_E4M3")) { _ = try SafetensorsFile(path: p1) }
        let p2 = try withHeader { h in
            var e = h["embedding_model.norm.weight"] as! [String: Any]
            e["shape"] = [16]   // 32 elements of data for 16 declared
            h["embedding_model.norm.weight"] = e
        }
        #expect { _ = try SafetensorsFile(path: p2) } throws: { e in
            guard case CheckpointError.tensorSizeMismatch(_, "embedding_model.norm.weight", _, 32, 64) = e else { return false }
            return true
        }
        let p3 = try withHeader { h in
            var e = h["embedding_model.norm.weight"] as! [String: Any]
            e["data_offsets"] = ["a", 3]
            h["embedding_model.norm.weight"] = e
        }
        #expect { _ = try SafetensorsFile(path: p3) } throws: { e in
            if case CheckpointError.badTensorEntry(_, "embedding_model.norm.weight", _) = e { return true }
            return false
        }
        let p4 = try withHeader { h in
            var e = h["embedding_model.norm.weight"] as! [String: Any]
            e["shape"] = [true, 32]
            h["embedding_model.norm.weight"] = e
        }
        #expect(throws: CheckpointError.self) { _ = try SafetensorsFile(path: p4) }
    }

    @Test func badJSONHeader() throws {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        bytes[8] = UInt8(ascii: "[")
        bytes[9] = UInt8(ascii: "{")
        let dir = temporaryDirectory("json")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = dir + "/model.safetensors"
        try bytes.write(to: URL(fileURLWithPath: p))
        #expect { _ = try SafetensorsFile(path: p) } throws: { e in
            if case CheckpointError.badHeader(let f, _) = e { return f == p }
            return false
        }
    }

    /// Random mutations of a valid file: every outcome is a successful parse or a
    /// CheckpointError; the process must never crash.
    @Test func randomHeaderMutationsNeverCrash() throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        let headerLength = Int(original[0]) | Int(original[1]) << 8 | Int(original[2]) << 16
        let dir = temporaryDirectory("fuzz")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = dir + "/model.safetensors"
        var rng = SystemRandomNumberGenerator()
        var parsed = 0, rejected = 0
        let alphabet = Array("{}[]\":,0123456789-eE.tfn ".utf8) + [0, 0xFF, 0xC3, 0x80]
        for iteration in 0..<1500 {
            var b = original
            switch iteration % 5 {
            case 0: // flip bytes inside the header
                for _ in 0..<Int.random(in: 1...4, using: &rng) { b[8 + Int.random(in: 0..<headerLength, using: &rng)] = alphabet.randomElement(using: &rng)! }
            case 1: // damage the length field
                b[Int.random(in: 0..<8, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 2: // truncate anywhere
                b = Array(b.prefix(Int.random(in: 0..<b.count, using: &rng)))
            case 3: // digits in the header replaced by other digits (offsets, shapes)
                let digits = (8..<(8 + headerLength)).filter { (48...57).contains(b[$0]) }
                for _ in 0..<3 { if let i = digits.randomElement(using: &rng) { b[i] = UInt8.random(in: 48...57, using: &rng) } }
            default: // delete a run of header bytes, keeping the length field
                let s = 8 + Int.random(in: 0..<headerLength, using: &rng)
                b.removeSubrange(s..<min(s + Int.random(in: 1...20, using: &rng), b.count))
            }
            try Data(b).write(to: URL(fileURLWithPath: p))
            do {
                _ = try SafetensorsFile(path: p)
                parsed += 1
            } catch is CheckpointError {
                rejected += 1
            }
        }
        #expect(parsed + rejected == 1500)
        #expect(rejected > 500)
    }

    @Test func strictLoadingListsEverythingAtOnce() throws {
        let dir = try copyFolder("tiny-nvembed-f32")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Config says 3 layers (so layer 2 is missing) and a wider FFN (wrong shapes).
        var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as! [String: Any]
        var text = cfg["text_config"] as! [String: Any]
        text["num_hidden_layers"] = 3
        text["intermediate_size"] = 80
        cfg["text_config"] = text
        try JSONSerialization.data(withJSONObject: cfg).write(to: URL(fileURLWithPath: dir + "/config.json"))
        do {
            _ = try EmbeddingModel(folder: dir)
            Issue.record("expected a tensorMismatch error")
        } catch let CheckpointError.tensorMismatch(missing, unexpected, wrong) {
            #expect(missing.count == 9)
            #expect(missing.allSatisfy { $0.hasPrefix("layers.2.") })
            #expect(unexpected.isEmpty)
            #expect(wrong.count == 6)   // gate/up/down × 2 layers
            #expect(wrong.contains { $0.tensor == "embedding_model.layers.0.mlp.gate_proj.weight" && $0.expected == [80, 32] && $0.found == [64, 32] })
        }
    }

    @Test func indexThatDisagreesWithShards() throws {
        let dir = try copyFolder("tiny-nvembed-f32")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let idx = dir + "/model.safetensors.index.json"
        var obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: idx))) as! [String: Any]
        var map = obj["weight_map"] as! [String: String]
        map["embedding_model.norm.weight"] = map["embedding_model.norm.weight"] == "model-00001-of-00002.safetensors" ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors"
        obj["weight_map"] = map
        try JSONSerialization.data(withJSONObject: obj).write(to: URL(fileURLWithPath: idx))
        #expect { _ = try Checkpoint(folder: dir) } throws: { e in
            if case CheckpointError.badIndex(let f, let reason) = e { return f == idx && reason.contains("embedding_model.norm.weight") }
            return false
        }
        try FileManager.default.removeItem(atPath: dir + "/model-00002-of-00002.safetensors")
        #expect { _ = try Checkpoint(folder: dir) } throws: { e in
            if case CheckpointError.badIndex(_, let reason) = e { return reason.contains("missing") }
            return false
        }
    }
}

/// config.json errors name the key.
@Suite struct ConfigTests {
    func parse(_ json: String) throws -> ModelConfig { try ModelConfig.parse(Data(json.utf8), file: "config.json") }
    let text = #""vocab_size": 600, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2"#

    @Test func nvembedDefaultsMatchTheRelease() throws {
        let c = try parse(#"{"model_type": "nvembed", "text_config": {"#+text+#"}, "latent_attention_config": {"model_type": "latent_attention", "latent_dim": 32, "hidden_dim": 32}}"#)
        #expect(c.family == .nvembed)
        #expect(c.latent == LatentAttentionConfig(numLatents: 512, numCrossHeads: 8, latentDim: 32, hiddenDim: 32, crossDimHead: 4096, outputNormalize: true))
        #expect(c.decoder.rmsNormEps == 1e-6)   // absent key → HF default
        #expect(c.decoder.headDim == 8)
    }

    @Test func realNVEmbedV2ConfigParses() throws {
        let path = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/reference/nv-embed-v2/config.json").path
        guard FileManager.default.fileExists(atPath: path) else { return }   // reference files live outside the repo
        let c = try ModelConfig.load(path: path)
        #expect(c.decoder.hiddenSize == 4096 && c.decoder.numHiddenLayers == 32 && c.decoder.numKeyValueHeads == 8)
        #expect(c.decoder.rmsNormEps == 1e-5 && c.latent?.crossDimHead == 4096 && c.latent?.numLatents == 512)
        #expect(c.parameterCount == 7_851_016_192)
    }

    @Test func missingKeyIsNamed() {
        #expect(throws: CheckpointError.badConfig(file: "config.json", key: "text_config.hidden_size", reason: "missing")) {
            _ = try parse(#"{"model_type": "nvembed", "text_config": {"vocab_size": 6, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}}"#)
        }
        #expect(throws: CheckpointError.badConfig(file: "config.json", key: "model_type", reason: "missing")) { _ = try parse("{}") }
        #expect(throws: CheckpointError.badConfig(file: "config.json", key: "text_config", reason: "missing (required for model_type nvembed)")) {
            _ = try parse(#"{"model_type": "nvembed"}"#)
        }
    }

    @Test func wrongTypesAndValuesAreNamed() {
        #expect { _ = try parse(#"{"model_type": "mistral", "vocab_size": "many", "hidden_size": 32}"#) } throws: { e in
            if case CheckpointError.badConfig(_, "vocab_size", _) = e { return true }
            return false
        }
        #expect { _ = try parse(#"{"model_type": "gpt2"}"#) } throws: { e in
            if case CheckpointError.badConfig(_, "model_type", let r) = e { return r.contains("gpt2") }
            return false
        }
        #expect { _ = try parse(#"{"model_type": "mistral", "#+text.replacingOccurrences(of: "\"num_key_value_heads\": 2", with: "\"num_key_value_heads\": 3")+#"}"#) } throws: { e in
            if case CheckpointError.badConfig(_, "num_key_value_heads", _) = e { return true }
            return false
        }
        #expect { _ = try parse(#"{"model_type": "nvembed", "text_config": {"#+text+#"}, "latent_attention_config": {"latent_dim": 64, "hidden_dim": 64}}"#) } throws: { e in
            if case CheckpointError.badConfig(_, "latent_attention_config.latent_dim", _) = e { return true }
            return false
        }
        #expect { _ = try parse("not json") } throws: { e in
            if case CheckpointError.badConfig(_, _, let r) = e { return r.contains("JSON") }
            return false
        }
        #expect { _ = try parse(#"{"model_type": "llama", "#+text+#", "rope_scaling": {"type": "linear"}}"#) } throws: { e in
            if case CheckpointError.badConfig(_, "rope_scaling", _) = e { return true }
            return false
        }
    }
}

import ArgumentParser
import Foundation
import LensSupport
import LensMath
import LensModel

@main
struct LatentLens: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latentlens",
        abstract: "See how an NV-Embed-style model turns text into a vector.",
        discussion: """
        Runs NV-Embed models (a Mistral decoder plus a latent-attention pooling block) on the CPU: \
        tokenize, embed with latent / mean / EOS pooling, and benchmark. Models are Hugging Face \
        folders (config.json + safetensors + tokenizer.model); the default is the bundled \
        Models/nvembed-mini.
        """,
        subcommands: [Explore.self, Tokenize.self, Embed.self, Index.self, Search.self, Export.self, Eval.self, Train.self, Bench.self],
        defaultSubcommand: Explore.self
    )

    /// Parses and runs, then leaves with `_exit` after flushing stdio: OpenBLAS 0.3.21's exit-time
    /// destructor (`blas_thread_shutdown_`) can deadlock joining a worker thread that is between
    /// spinning and sleeping, which hung roughly one quit in three right after a search. Nothing of
    /// ours needs exit-time work: files are written unbuffered or closed by their owners, the store
    /// is crash-safe by design, and the explorer restores the terminal before returning.
    static func main() {
        BLAS.reexecWithBetterCoreTypeIfNeeded()
        var code = ExitCode.success.rawValue
        var parsed: ParsableCommand.Type = Self.self   // whose usage an error message shows
        do {
            var command = try parseAsRoot(nil)
            parsed = type(of: command)
            try command.run()
        } catch {
            var text = fullMessage(for: error)
            if let v = error as? ValidationError, parsed != Self.self {
                // Thrown by a subcommand's run(): show that subcommand's usage, not the root's.
                text = "Error: \(v.message)\nUsage: " + usageString(for: parsed) + "\n  See 'latentlens \(parsed._commandName) --help' for more information."
            }
            code = exitCode(for: error).rawValue
            if !text.isEmpty {
                if code == 0 { print(text) } else { FileHandle.standardError.write(Data((text + "\n").utf8)) }
            }
        }
        fflush(nil)   // every C stdio stream
        _exit(code)
    }
}

/// Options every model-running command shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Model folder (config.json, safetensors, tokenizer.model).", valueName: "DIR"))
    var model: String = ModelLocator.defaultModelFolder()

    @Option(name: .long, help: "BLAS threads (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "f16/bf16 weights: materialize (f32 copy, fastest), stream (convert on use, half the memory) or automatic.")
    var weights: WeightResidency = .automatic

    func load() throws -> EmbeddingModel {
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            BLAS.setThreads(threads)
        }
        do {
            return try EmbeddingModel(folder: model, residency: weights)
        } catch {
            throw CLIError("cannot load model \(model): \(error)")
        }
    }
}

extension WeightResidency: ExpressibleByArgument {}
extension Pooling: ExpressibleByArgument {}
extension AttentionMask: ExpressibleByArgument {}

/// A one-line error for stderr; the process exits 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Runs a command body, printing errors as one `latentlens: error: …` line and exiting 1.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ValidationError {
        throw e
    } catch let e as ExitCode {
        throw e
    } catch {
        FileHandle.standardError.write(Data("latentlens: error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

/// Refuses an output path whose folder is missing or read-only: called before the minutes of
/// embedding that precede the write, not after.
func requireWritableFolder(for path: String) throws {
    let parent = (path as NSString).deletingLastPathComponent
    let dir = parent.isEmpty ? "." : parent
    guard access(dir, W_OK) == 0 else { throw CLIError("cannot write \(path): \(dir) is not a writable folder") }
}

/// An I/O error in the system's words ("No space left on device"), not Foundation's wrapper.
func systemReason(_ error: Error) -> String {
    let ns = error as NSError
    if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(u.code))) }
    if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
    return ns.localizedDescription
}

/// Writes several files all or none: each to PATH.partial (its `body` fills it), all renamed
/// over their PATHs only once every one is complete, so a reader never sees half a file and an
/// earlier PATH stays as it was. A failure (a full disk, a missing folder) removes the partial
/// files and names the file and the reason in the system's words.
func writeFiles(_ files: [(path: String, body: (FileHandle) throws -> Void)]) throws {
    var written: [String] = []
    func fail(_ path: String, _ reason: String) -> CLIError {
        for p in written { unlink(p + ".partial") }
        return CLIError("cannot write \(path): \(reason)")
    }
    for f in files {
        let fd = open(f.path + ".partial", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw fail(f.path, String(cString: strerror(errno))) }
        written.append(f.path)
        let fh = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
        do {
            defer { close(fd) }
            try f.body(fh)
            try fh.synchronize()
        } catch {
            throw fail(f.path, systemReason(error))
        }
    }
    for path in written where rename(path + ".partial", path) != 0 { throw fail(path, String(cString: strerror(errno))) }
}

/// Latent-attention probabilities as `[heads][tokens][latents]` (flattened in that order in
/// `probabilities`): what `embed --trace` and the explorer's `:export` write for the heatmap.
func writeLatentProbabilities(_ w: inout JSONWriter, _ probabilities: [Float], heads: Int, tokens: Int, latents: Int) {
    w.key("latent_probabilities")
    w.beginArray()
    for h in 0..<heads {
        w.beginArray()
        for tok in 0..<tokens {
            let start = (h * tokens + tok) * latents
            w.floats(Array(probabilities[start..<start + latents]), digits: 6)
        }
        w.endArray()
    }
    w.endArray()
}

/// Writes to stdout without buffering surprises.
func emit(_ s: String) {
    FileHandle.standardOutput.write(Data((s + "\n").utf8))
}

func warn(_ s: String) {
    FileHandle.standardError.write(Data("latentlens: \(s)\n".utf8))
}

import Foundation

/// Where the bundled default model lives.
public enum ModelLocator {
    /// Folder name of the default model under `Models/`.
    public static let defaultModelName = "nvembed-mini"

    /// `$LATENTLENS_MODEL`, else `Models/nvembed-mini` found next to the executable or one
    /// of its parent folders (a SwiftPM build puts it in `.build/<config>/`), else the
    /// source checkout this binary was built from.
    public static func defaultModelFolder() -> String {
        if let env = ProcessInfo.processInfo.environment["LATENTLENS_MODEL"], !env.isEmpty { return env }
        return findInRepo("Models/\(defaultModelName)") ?? "Models/\(defaultModelName)"
    }

    /// Finds a path relative to the LatentLens checkout (SampleCorpora, Themes, Models).
    public static func findInRepo(_ relative: String) -> String? {
        let fm = FileManager.default
        var dir = URL(fileURLWithPath: CommandLine.arguments.first.map { resolveExecutable($0) } ?? ".").deletingLastPathComponent()
        for _ in 0..<6 {
            let candidate = dir.appendingPathComponent(relative).path
            if fm.fileExists(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidate = source.appendingPathComponent(relative).path
        return fm.fileExists(atPath: candidate) ? candidate : nil
    }

    private static func resolveExecutable(_ arg0: String) -> String {
        if let real = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return real }
        return arg0
    }
}

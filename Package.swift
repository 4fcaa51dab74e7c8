// swift-tools-version:6.0
import PackageDescription

// LatentLens: see README.md. Targets form a chain; each imports only targets below it.
let package = Package(
    name: "LatentLens",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "latentlens", targets: ["latentlens"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // ---- C shims over system libraries (Debian: libopenblas-dev, libncurses-dev,
        // ---- libsentencepiece-dev, libsqlite3-dev, libdnnl-dev)
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CNcursesw", providers: [.apt(["libncurses-dev"])]),
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "CSentencePiece", linkerSettings: [.linkedLibrary("sentencepiece")]),
        // Float kernels in C: AVX2/FMA/F16C clones chosen at load time (target_clones).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),
        // bfloat16 products on AMX through oneDNN (libdnnl-dev), for `train --matmul bf16`.
        .target(name: "CMatmulBF16", linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),

        // ---- libraries
        .target(name: "LensSupport"),
        .target(name: "LensMath", dependencies: ["CBLAS", "CKernels", "CMatmulBF16"]),
        .target(name: "LensTokenizer", dependencies: ["CSentencePiece"]),
        .target(name: "LensModel", dependencies: ["LensMath", "LensTokenizer", "LensSupport"]),
        .target(name: "LensRetrieval", dependencies: ["LensModel", "LensMath", "LensSupport", "CSQLite"]),
        .target(name: "LensTraining", dependencies: ["LensModel", "LensRetrieval", "LensMath", "LensSupport"]),
        .target(name: "LensExplorer", dependencies: ["LensModel"]),
        .target(name: "LensTerminal", dependencies: ["LensExplorer", "LensModel", "CNcursesw", "CKernels"]),

        // ---- the executable
        .executableTarget(
            name: "latentlens",
            dependencies: [
                "LensModel", "LensSupport", "LensRetrieval", "LensTraining", "LensExplorer", "LensTerminal",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // ---- tests (one target per library)
        .testTarget(name: "LensSupportTests", dependencies: ["LensSupport"]),
        .testTarget(name: "LensMathTests", dependencies: ["LensMath"]),
        .testTarget(name: "LensTokenizerTests", dependencies: ["LensTokenizer"], exclude: ["Fixtures"]),
        .testTarget(name: "LensModelTests", dependencies: ["LensModel", "LensMath"], exclude: ["Fixtures"]),
        .testTarget(name: "LensRetrievalTests", dependencies: ["LensRetrieval", "LensSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "LensTrainingTests", dependencies: ["LensTraining", "LensSupport"]),
        .testTarget(name: "LensExplorerTests", dependencies: ["LensExplorer", "LensTerminal"]),
    ],
    cxxLanguageStandard: .cxx17
)

import Foundation
import Testing
import LensModel

/// Opt-in: with `LATENTLENS_NVEMBED_V2` naming a downloaded NV-Embed-v2 folder (15.7 GB fp16;
/// streamed, so ≈ 17 GB of RAM), reproduce the model card's example scores.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["LATENTLENS_NVEMBED_V2"] != nil))
struct RealModelTests {
    static let instruction = queryInstruction(task: "Given a question, retrieve passages that answer the question")
    static let queries = ["are judo throws allowed in wrestling?", "how to become a radiology technician in michigan?"]
    // The two passages of the NV-Embed-v2 model card's usage example.
    static let passages = [
        "Since you're reading this, you are probably someone from a judo background or someone who is just wondering how judo techniques can be applied under wrestling rules. So without further ado, let's get to the question. Are Judo throws allowed in wrestling? Yes, judo throws are allowed in freestyle and folkstyle wrestling. You only need to be careful to follow the slam rules when executing judo throws. In wrestling, a slam is lifting and returning an opponent to the mat with unnecessary force.",
        "Below are the basic steps to becoming a radiologic technologist in Michigan:Earn a high school diploma. As with most careers in health care, a high school education is the first step to finding entry-level employment. Taking classes in math and science, such as anatomy, biology, chemistry, physiology, and physics, can help prepare students for their college studies and future careers.Earn an associate degree. Entry-level radiologic positions typically require at least an Associate of Applied Science. Before enrolling in one of these degree programs, students should make sure it has been properly accredited by the Joint Review Committee on Education in Radiologic Technology (JRCERT).Get licensed or certified in the state of Michigan.",
    ]

    @Test func modelCardScores() throws {
        let folder = ProcessInfo.processInfo.environment["LATENTLENS_NVEMBED_V2"]!
        let model = try EmbeddingModel(folder: folder)
        let q = try model.embed(Self.queries, options: EmbedOptions(poolings: [.latent], instruction: Self.instruction, maxLength: 32768))
        let p = try model.embed(Self.passages, options: EmbedOptions(poolings: [.latent], instruction: "", maxLength: 32768))
        let expected: [[Double]] = [[87.43, 0.46], [0.97, 86.04]]
        for i in 0..<2 {
            for j in 0..<2 {
                let s = 100 * Double(zip(q[i].vectors[.latent]!, p[j].vectors[.latent]!).reduce(Float(0)) { $0 + $1.0 * $1.1 })
                print("score[\(i)][\(j)] = \(s)")
                #expect(abs(s - expected[i][j]) <= 0.05, "score[\(i)][\(j)] = \(s), card says \(expected[i][j])")
            }
        }
    }
}

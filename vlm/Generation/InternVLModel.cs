using InternVit.SK.Export;
using InternVit.SK.Onnx;

namespace InternVit.SK.Generation;

/// <summary>
/// A converted InternVL model folder opened for inference: its manifest, the vision encoder, the language model and the
/// token-embedding table.
/// </summary>
public sealed class InternVLModel : IDisposable
{
    private InternVLModel(string directory, ModelManifest manifest, VisionEncoder vision, LanguageModel language, TokenEmbeddings embeddings)
    {
        Directory = directory;
        Manifest = manifest;
        Vision = vision;
        Language = language;
        Embeddings = embeddings;
    }

    /// <summary>The model folder.</summary>
    public string Directory { get; }

    /// <summary>What the folder holds.</summary>
    public ModelManifest Manifest { get; }

    /// <summary>Tiles → image features.</summary>
    public VisionEncoder Vision { get; }

    /// <summary>Embeddings → logits, with a KV cache.</summary>
    public LanguageModel Language { get; }

    /// <summary>Token id → embedding row.</summary>
    public TokenEmbeddings Embeddings { get; }

    /// <summary>Opens the model folder <paramref name="directory"/> (written by <c>internvl convert</c>).</summary>
    /// <exception cref="Checkpoints.CheckpointException">Not a model folder, or a file is missing or does not match the manifest.</exception>
    public static InternVLModel Open(string directory, OrtSessionOptions? options = null)
    {
        string root = Path.GetFullPath(directory);
        var manifest = ModelManifest.Load(root);
        var owned = new List<IDisposable>();
        try
        {
            var visionSession = OrtSession.Create(Path.Combine(root, manifest.Vision.File), options);
            owned.Add(visionSession);
            CheckSignature(root, manifest.Vision, visionSession);
            var vision = new VisionEncoder(visionSession, manifest);
            var decoderSession = OrtSession.Create(Path.Combine(root, manifest.Decoder.File), options);
            owned.Add(decoderSession);
            CheckSignature(root, manifest.Decoder, decoderSession);
            var language = new LanguageModel(decoderSession, manifest.Decoder);
            var embeddings = TokenEmbeddings.Open(Path.Combine(root, manifest.Embeddings.File), manifest.Embeddings.Tensor);
            owned.Add(embeddings);
            if (embeddings.HiddenSize != language.HiddenSize)
                throw new Checkpoints.CheckpointException(root, $"embedding width {embeddings.HiddenSize} differs from the decoder's {language.HiddenSize}");
            return new InternVLModel(root, manifest, vision, language, embeddings);
        }
        catch
        {
            foreach (var d in owned) d.Dispose();
            throw;
        }
    }

    private static void CheckSignature(string root, ManifestGraph graph, OrtSession session)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in session.Inputs) names.Add(input.Name);
        foreach (var port in graph.Inputs)
            if (!names.Contains(port.Name))
                throw new Checkpoints.CheckpointException(Path.Combine(root, graph.File), $"the graph has no input '{port.Name}' that the manifest names; convert again with --force");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Vision.Dispose();
        Language.Dispose();
        Embeddings.Dispose();
    }
}

using InternVit.SK.Generation;
using InternVit.SK.Onnx;
using InternVit.SK.Tests.Export;

namespace InternVit.SK.Tests.Generation;

/// <summary>Which provider a model runs on is visible on the model, and a CUDA request without CUDA still answers.</summary>
[Collection(ConvertedTinyModelCollection.Name)]
public sealed class ExecutionProviderTests(ConvertedTinyModel tiny)
{
    [Fact]
    public void Cpu_model_says_so_with_no_fallback()
    {
        Assert.Equal(OrtExecutionProvider.Cpu, tiny.Model.ExecutionProvider);
        Assert.Null(tiny.Model.ProviderFallbackReason);
    }

    [Fact]
    public async Task Cuda_request_without_the_gpu_package_falls_back_to_cpu_and_gives_the_golden_tokens()
    {
        // The tests reference Microsoft.ML.OnnxRuntime (CPU): its library has no CUDA provider.
        using var model = InternVLModel.Open(tiny.Directory, new InternVLModelOptions { ExecutionProvider = OrtExecutionProvider.Cuda });
        Assert.Equal(OrtExecutionProvider.Cpu, model.ExecutionProvider);
        Assert.Contains("CUDA", model.ProviderFallbackReason, StringComparison.OrdinalIgnoreCase);
        var (question, images, expected, _) = GenerationGoldenTests.Case("one_image");
        var result = await model.StartConversation().GenerateAsync(question, images, new GenerationOptions { MaxNewTokens = 24 });
        Assert.Equal(expected, result.TokenIds);
    }
}

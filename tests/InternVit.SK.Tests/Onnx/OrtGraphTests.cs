using InternVit.SK.Export;
using InternVit.SK.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace InternVit.SK.Tests.Onnx;

/// <summary>Graphs written with <see cref="OnnxGraphBuilder"/>, run through the binding, compared with <see cref="Reference"/>.</summary>
public class OrtGraphTests
{
    private static OrtSession Build(TempDir dir, Action<OnnxGraphBuilder> define)
    {
        string path = dir.File("model.onnx");
        using (var g = new OnnxGraphBuilder(path, "test"))
        {
            define(g);
            g.Save();
        }
        return OrtSession.Create(path, new OrtSessionOptions { IntraOpThreads = 1 });
    }

    private static float[] RunSingle(OrtSession session, params (string Name, OrtValue Value)[] inputs)
    {
        try
        {
            var outputs = session.Run(inputs, [session.OutputNames[0]]);
            using var y = outputs[0];
            return y.ToArray<float>();
        }
        finally
        {
            foreach (var (_, value) in inputs) value.Dispose();
        }
    }

    [Fact]
    public void MatMul_plus_Add_with_external_weights_matches_reference()
    {
        const int batch = 3, tokens = 4, k = 64, n = 32; // 64x32 float weight = 8 KiB: stored as external data
        var w = Reference.RandomFloats(k * n, 1);
        var b = Reference.RandomFloats(n, 2);
        var x = Reference.RandomFloats(batch * tokens * k, 3);
        using var dir = new TempDir();
        using var session = Build(dir, g =>
        {
            string input = g.Input("x", OnnxDataType.Float, "batch", tokens, k);
            string y = g.Linear("/proj", input, g.Initializer<float>("proj.weight", w, k, n), g.Initializer<float>("proj.bias", b, n));
            g.Output(y, "y", OnnxDataType.Float, "batch", tokens, n);
        });
        Assert.True(File.Exists(dir.File("model.onnx.data")));
        Assert.Equal(["x"], session.InputNames);
        Assert.Equal(["y"], session.OutputNames);
        var x0 = session.InputMetadata["x"];
        Assert.Equal(Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float, x0.ElementDataType);
        Assert.Equal([-1, tokens, k], x0.Dimensions);
        Assert.Equal("batch", x0.SymbolicDimensions[0]);

        var actual = RunSingle(session, ("x", TestTensors.Of(x, batch, tokens, k)));
        Reference.AssertClose(Reference.MatMulAdd(x, w, b, batch * tokens, k, n), actual, 1e-5);
    }

    [Fact]
    public void LayerNormalization_matches_reference()
    {
        const int rows = 5, width = 48;
        var x = Reference.RandomFloats(rows * width, 4, scale: 3);
        var gamma = Reference.RandomFloats(width, 5);
        var beta = Reference.RandomFloats(width, 6);
        using var dir = new TempDir();
        using var session = Build(dir, g =>
        {
            string y = g.LayerNormalization("/norm", g.Input("x", OnnxDataType.Float, rows, width),
                g.Initializer<float>("norm.weight", gamma, width), g.Initializer<float>("norm.bias", beta, width), 1e-6f);
            g.Output(y, "y", OnnxDataType.Float, rows, width);
        });
        var actual = RunSingle(session, ("x", TestTensors.Of(x, rows, width)));
        Reference.AssertClose(Reference.LayerNorm(x, gamma, beta, width, 1e-6), actual, 2e-5);
    }

    [Fact]
    public void Exact_Gelu_matches_erf_reference()
    {
        var x = new float[161];
        for (int i = 0; i < x.Length; i++) x[i] = -4f + i * 0.05f;
        using var dir = new TempDir();
        using var session = Build(dir, g => g.Output(g.Gelu("/act", g.Input("x", OnnxDataType.Float, x.Length)), "y", OnnxDataType.Float, x.Length));
        var actual = RunSingle(session, ("x", TestTensors.Of(x, x.Length)));
        Reference.AssertClose(x.Select(Reference.GeluExact).ToArray(), actual, 1e-6);
    }

    [Fact]
    public void Softmax_matches_reference()
    {
        const int rows = 4, width = 10;
        var x = Reference.RandomFloats(rows * width, 7, scale: 8);
        using var dir = new TempDir();
        using var session = Build(dir, g => g.Output(g.Softmax("/softmax", g.Input("x", OnnxDataType.Float, rows, width)), "y", OnnxDataType.Float, rows, width));
        var actual = RunSingle(session, ("x", TestTensors.Of(x, rows, width)));
        Reference.AssertClose(Reference.Softmax(x, width), actual, 1e-6);
        for (int r = 0; r < rows; r++) Assert.Equal(1.0, actual.Skip(r * width).Take(width).Sum(v => (double)v), 5);
    }

    [Fact]
    public void Patch_embedding_Conv_matches_reference()
    {
        const int c = 3, size = 28, outChannels = 8, kernel = 14;
        var x = Reference.RandomFloats(c * size * size, 8);
        var weight = Reference.RandomFloats(outChannels * c * kernel * kernel, 9, scale: 0.1);
        var bias = Reference.RandomFloats(outChannels, 10);
        using var dir = new TempDir();
        using var session = Build(dir, g =>
        {
            string y = g.Conv("/patch_embedding", g.Input("pixel_values", OnnxDataType.Float, "n", c, size, size),
                g.Initializer<float>("patch_embedding.weight", weight, outChannels, c, kernel, kernel),
                g.Initializer<float>("patch_embedding.bias", bias, outChannels), [kernel, kernel], [kernel, kernel]);
            g.Output(y, "y", OnnxDataType.Float, "n", outChannels, 2, 2);
        });
        var actual = RunSingle(session, ("pixel_values", TestTensors.Of(x, 1, c, size, size)));
        Reference.AssertClose(Reference.Conv2d(x, c, size, size, weight, bias, outChannels, kernel, kernel), actual, 2e-5);
    }

    [Fact]
    public void Contrib_SkipLayerNormalization_matches_reference()
    {
        const int rows = 6, width = 32;
        var x = Reference.RandomFloats(rows * width, 11);
        var skip = Reference.RandomFloats(rows * width, 12);
        var gamma = Reference.RandomFloats(width, 13);
        var beta = Reference.RandomFloats(width, 14);
        using var dir = new TempDir();
        using var session = Build(dir, g =>
        {
            var (normalized, sum) = g.SkipLayerNormalization("/skip_norm", g.Input("x", OnnxDataType.Float, 2, 3, width),
                g.Input("skip", OnnxDataType.Float, 2, 3, width), g.Initializer<float>("ln.weight", gamma, width), g.Initializer<float>("ln.bias", beta, width), 1e-5f);
            g.Output(normalized, "y", OnnxDataType.Float, 2, 3, width);
            g.Output(sum, "sum", OnnxDataType.Float, 2, 3, width);
        });
        using var xt = TestTensors.Of(x, 2, 3, width);
        using var st = TestTensors.Of(skip, 2, 3, width);
        var outputs = session.Run([("x", xt), ("skip", st)], ["y", "sum"]);
        using var y = outputs[0];
        using var s = outputs[1];
        var expectedSum = x.Zip(skip, (a, b) => a + b).ToArray();
        Reference.AssertClose(expectedSum, s.GetTensorDataAsSpan<float>().ToArray(), 1e-6);
        Reference.AssertClose(Reference.LayerNorm(expectedSum, gamma, beta, width, 1e-5), y.GetTensorDataAsSpan<float>().ToArray(), 2e-5);
    }

    [Fact]
    public void Int64_int32_bool_and_float16_tensors_cross_without_loss()
    {
        using var dir = new TempDir();
        using var session = Build(dir, g =>
        {
            g.Output(g.Input("ids", OnnxDataType.Int64, 3), "ids_out", OnnxDataType.Int64, 3);
            g.Output(g.Input("positions", OnnxDataType.Int32, 3), "positions_out", OnnxDataType.Int32, 3);
            g.Output(g.Input("mask", OnnxDataType.Bool, 3), "mask_out", OnnxDataType.Bool, 3);
            g.Output(g.Input("half", OnnxDataType.Float16, 3), "half_out", OnnxDataType.Float16, 3);
        });
        using var ids = TestTensors.Of(new long[] { 151667, -1, long.MaxValue }, 3);
        using var positions = TestTensors.Of(new[] { 0, 7, int.MinValue }, 3);
        using var mask = TestTensors.Of(new[] { true, false, true }, 3);
        using var half = TestTensors.Of(new[] { (Float16)1.5f, (Float16)float.NegativeInfinity, (Float16)(-0.25f) }, 3);
        var outputs = session.Run([("ids", ids), ("positions", positions), ("mask", mask), ("half", half)], ["ids_out", "positions_out", "mask_out", "half_out"]);
        try
        {
            Assert.Equal(new long[] { 151667, -1, long.MaxValue }, outputs[0].ToArray<long>());
            Assert.Equal(new[] { 0, 7, int.MinValue }, outputs[1].ToArray<int>());
            Assert.Equal(new[] { true, false, true }, outputs[2].ToArray<bool>());
            Assert.Equal(new[] { 1.5f, float.NegativeInfinity, -0.25f }, Array.ConvertAll(outputs[3].ToArray<Float16>(), h => (float)h));
            Assert.Equal(Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float16, outputs[3].GetTensorTypeAndShape().ElementDataType);
            Assert.ThrowsAny<Exception>(() => outputs[0].GetTensorDataAsSpan<float>().ToArray());
        }
        finally
        {
            foreach (var o in outputs) o.Dispose();
        }
    }

    [Fact]
    public void Input_tensor_views_caller_memory_and_outputs_can_be_caller_buffers()
    {
        using var dir = new TempDir();
        using var session = Build(dir, g =>
        {
            string x = g.Input("x", OnnxDataType.Float, 4);
            g.Output(g.Add("/double", x, x), "y", OnnxDataType.Float, 4);
        });
        var input = new float[] { 1, 2, 3, 4 };
        var output = new float[4];
        using var xt = TestTensors.Of(input, 4);
        using var yt = TestTensors.Of(output, 4);
        session.Run(["x"], [xt], ["y"], [yt]);
        Assert.Equal(new float[] { 2, 4, 6, 8 }, output);
        // No copy was made: changing the managed array changes the next run's input.
        input[0] = 10;
        session.Run(["x"], [xt], ["y"], [yt]);
        Assert.Equal(20, output[0]);
        Assert.ThrowsAny<Exception>(() => TestTensors.Of(input, 5)); // ORT refuses a shape that is not the buffer's length
    }
}

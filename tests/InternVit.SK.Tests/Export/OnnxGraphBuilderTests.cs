using InternVit.SK.Export;
using InternVit.SK.Export.Proto;
using InternVit.SK.Onnx;

namespace InternVit.SK.Tests.Export;

public class OnnxGraphBuilderTests
{
    private static void BuildSample(string path)
    {
        using var g = new OnnxGraphBuilder(path, "sample");
        // 17x33 floats = 2244 bytes (external, not a multiple of 64), 33 floats = 132 bytes (inline), 33x16 = 2112 bytes (external).
        string x = g.Input("x", OnnxDataType.Float, "batch", 17);
        string w = g.Initializer<float>("layer.weight", Enumerable.Range(0, 17 * 33).Select(i => i * 0.001f).ToArray(), 17, 33);
        string b = g.Initializer<float>("layer.bias", Enumerable.Range(0, 33).Select(i => -i * 0.5f).ToArray(), 33);
        string big = g.Initializer<float>("layer2.weight", Enumerable.Range(0, 33 * 16).Select(i => i * 0.01f).ToArray(), 33, 16);
        string h = g.Gelu("/act", g.Linear("/layer", x, w, b));
        g.Output(g.MatMul("/layer2", h, big), "y", OnnxDataType.Float, "batch", 16);
        g.Save("test", [new("purpose", "unit test")]);
    }

    [Fact]
    public void Same_calls_give_identical_bytes()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("a"));
        Directory.CreateDirectory(dir.File("b"));
        BuildSample(dir.File("a/model.onnx"));
        BuildSample(dir.File("b/model.onnx"));
        Assert.Equal(File.ReadAllBytes(dir.File("a/model.onnx")), File.ReadAllBytes(dir.File("b/model.onnx")));
        Assert.Equal(File.ReadAllBytes(dir.File("a/model.onnx.data")), File.ReadAllBytes(dir.File("b/model.onnx.data")));
    }

    [Fact]
    public void Large_initializers_go_to_aligned_external_data_and_small_ones_stay_inline()
    {
        using var dir = new TempDir();
        string path = dir.File("model.onnx");
        BuildSample(path);
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        Assert.Equal(OnnxGraphBuilder.IrVersion, model.IrVersion);
        Assert.Contains(model.OpsetImport, o => o.Domain == "" && o.Version == OnnxGraphBuilder.DefaultOpset);
        Assert.Equal("unit test", model.MetadataProps.Single(p => p.Key == "purpose").Value);

        var weight = model.Graph.Initializer.Single(t => t.Name == "layer.weight");
        Assert.Equal(TensorProto.Types.DataLocation.External, weight.DataLocation);
        var entries = weight.ExternalData.ToDictionary(e => e.Key, e => e.Value);
        Assert.Equal("model.onnx.data", entries["location"]);
        Assert.Equal("0", entries["offset"]);
        Assert.Equal("2244", entries["length"]);

        var second = model.Graph.Initializer.Single(t => t.Name == "layer2.weight").ExternalData.ToDictionary(e => e.Key, e => e.Value);
        long offset = long.Parse(second["offset"]);
        Assert.Equal(2304, offset); // 2244 rounded up to the 64-byte alignment
        var data = File.ReadAllBytes(dir.File("model.onnx.data"));
        Assert.Equal(offset + 33 * 16 * 4, data.Length);
        Assert.Equal(0.01f * 5, BitConverter.ToSingle(data, (int)offset + 5 * 4));

        var bias = model.Graph.Initializer.Single(t => t.Name == "layer.bias");
        Assert.Equal(TensorProto.Types.DataLocation.Default, bias.DataLocation);
        Assert.Equal(33 * 4, bias.RawData.Length);
        Assert.Equal(-0.5f * 3, BitConverter.ToSingle(bias.RawData.Span[(3 * 4)..]));

        Assert.Equal(["MatMul", "Add", "Gelu", "MatMul", "Identity"], model.Graph.Node.Select(n => n.OpType));
        Assert.Equal("/layer/MatMul/output_0", model.Graph.Node[0].Output[0]);
    }

    [Fact]
    public void Duplicate_names_are_refused()
    {
        using var dir = new TempDir();
        using var g = new OnnxGraphBuilder(dir.File("m.onnx"), "dup");
        string x = g.Input("x", OnnxDataType.Float, 2);
        g.Initializer<float>("w", new float[] { 1, 2 }, 2);
        Assert.Throws<InvalidOperationException>(() => g.Initializer<float>("w", new float[] { 1, 2 }, 2));
        g.Add("/add", x, "w");
        Assert.Throws<InvalidOperationException>(() => g.Add("/add", x, "w"));
    }

    [Fact]
    public void Unsaved_build_leaves_no_files()
    {
        using var dir = new TempDir();
        using (var g = new OnnxGraphBuilder(dir.File("m.onnx"), "unsaved"))
        {
            g.Initializer<float>("big", new float[4096], 4096);
            // disposed without Save, as after a failed conversion
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
    }

    [Fact]
    public void Model_without_external_tensors_removes_a_stale_data_file()
    {
        using var dir = new TempDir();
        string path = dir.File("m.onnx");
        BuildSample(path);
        Assert.True(File.Exists(path + ".data"));
        using (var g = new OnnxGraphBuilder(path, "small"))
        {
            string x = g.Input("x", OnnxDataType.Float, 2);
            g.Output(g.Add("/add", x, x), "y", OnnxDataType.Float, 2);
            g.Save();
        }
        Assert.False(File.Exists(path + ".data"));
        using var session = OrtSession.Create(path);
        Assert.Equal("y", session.OutputNames.Single());
    }
}

using System.Buffers.Binary;
using System.Text;
using InternVit.SK.Checkpoints;

namespace InternVit.SK.Tests.Checkpoints;

public class SafetensorsFileTests
{
    private static string TinyWeights => Path.Combine(TestPaths.TinyCheckpoint, "model.safetensors");

    // Expected values were read from the file with Python's struct + json (an independent reader):
    // name, dtype, shape, data_offsets, and the elements at index 0, 1 and the last one (bf16 -> float32).
    public static TheoryData<string, long[], long, long, float, float, float> FixtureTensors => new()
    {
        { "vision_model.embeddings.class_embedding", [1, 1, 64], 39019392, 39019520, 0.173828125f, 0.034912109375f, 0.28125f },
        { "vision_model.embeddings.patch_embedding.weight", [64, 3, 14, 14], 39019648, 39094912, 0.034912109375f, -0.051025390625f, 0.060546875f },
        { "vision_model.embeddings.position_embedding", [1, 1025, 64], 39094912, 39226112, -0.019775390625f, -0.26171875f, 0.48828125f },
        { "vision_model.encoder.layers.1.attn.qkv.weight", [192, 64], 39302016, 39326592, 0.140625f, -0.0458984375f, 0.0634765625f },
        { "mlp1.0.weight", [256], 38977664, 38978176, 0.84375f, 0.85546875f, 1.046875f },
        { "mlp1.1.weight", [64, 256], 38978304, 39011072, 0.0093994140625f, 0.06689453125f, -0.0162353515625f },
        { "language_model.model.embed_tokens.weight", [151674, 64], 19414272, 38828544, 0.08544921875f, 0.6953125f, -0.0654296875f },
        { "language_model.lm_head.weight", [151674, 64], 0, 19414272, -0.3046875f, -0.171875f, 0.035888671875f },
        { "language_model.model.layers.0.self_attn.k_proj.bias", [32], 38877952, 38878016, -0.07080078125f, 0.10986328125f, -0.134765625f },
    };

    [Theory]
    [MemberData(nameof(FixtureTensors))]
    public void Reads_fixture_tensor_names_shapes_offsets_and_values(string name, long[] shape, long begin, long end, float first, float second, float last)
    {
        using var file = SafetensorsFile.Open(TinyWeights);
        var info = file.GetInfo(name);
        Assert.Equal(SafetensorsDtype.BF16, info.Dtype);
        Assert.Equal(shape, info.Shape);
        Assert.Equal(begin, info.Begin);
        Assert.Equal(end, info.End);
        var values = file.ReadFloat32(name);
        Assert.Equal(info.ElementCount, values.Length);
        Assert.Equal(first, values[0]);
        Assert.Equal(second, values[1]);
        Assert.Equal(last, values[^1]);
    }

    [Fact]
    public void Fixture_header_has_65_tensors_and_pt_metadata()
    {
        using var file = SafetensorsFile.Open(TinyWeights);
        Assert.Equal(65, file.Tensors.Count);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.False(file.Contains("language_model.model.norm.bias"));
        Assert.True(file.Contains("language_model.model.norm.weight"));
    }

    [Fact]
    public void Round_trips_f32_bf16_f16_and_i64()
    {
        using var dir = new TempDir();
        var random = new Random(7);
        var f32 = new float[6 * 5];
        for (int i = 0; i < f32.Length; i++) f32[i] = (float)(random.NextDouble() * 20 - 10);
        f32[0] = float.NaN;
        f32[1] = float.PositiveInfinity;
        f32[2] = -0.0f;
        var ids = new long[] { 0, -1, long.MaxValue, 151667 };
        string path = dir.File("round.safetensors");
        SafetensorsWriter.Write(path,
        [
            SafetensorsEntry.FromFloat32("a.f32", [6, 5], f32),
            SafetensorsEntry.FromFloat32("b.bf16", [6, 5], f32, SafetensorsDtype.BF16),
            SafetensorsEntry.FromFloat32("c.f16", [30], f32, SafetensorsDtype.F16),
            SafetensorsEntry.FromInt64("d.ids", [4], ids),
            SafetensorsEntry.FromFloat32("e.scalar", [], new float[] { 3.5f }),
        ], new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "test" });

        // The header is 8-byte aligned and space padded, as the format asks.
        var raw = File.ReadAllBytes(path);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(raw);
        Assert.Equal(0UL, headerLength % 8);
        Assert.Equal((ulong)(raw.Length - 8) - (30 * 4 + 30 * 2 + 30 * 2 + 4 * 8 + 4), headerLength);

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(["a.f32", "b.bf16", "c.f16", "d.ids", "e.scalar"], file.Tensors.Select(t => t.Name));
        Assert.Equal("test", file.Metadata["producer"]);
        Assert.Equal(f32, file.ReadFloat32("a.f32"));
        var bf16 = file.ReadFloat32("b.bf16");
        var f16 = file.ReadFloat32("c.f16");
        Assert.True(float.IsNaN(bf16[0]) && float.IsNaN(f16[0]));
        for (int i = 1; i < f32.Length; i++)
        {
            // Rounding to nearest: bf16 (7 stored mantissa bits) errs by at most 2^-8 relative, f16 (10 bits) by 2^-11.
            Assert.True(Math.Abs(bf16[i] - f32[i]) <= Math.Abs(f32[i]) * (1.0 / 256) || float.IsInfinity(f32[i]) && bf16[i] == f32[i], $"bf16 {i}");
            Assert.True(Math.Abs(f16[i] - f32[i]) <= Math.Abs(f32[i]) * (1.0 / 2048) || float.IsInfinity(f32[i]) && f16[i] == f32[i], $"f16 {i}");
        }
        Assert.Equal(ids, file.ReadInt64("d.ids"));
        Assert.Equal([3.5f], file.ReadFloat32("e.scalar"));
        Assert.Empty(file.GetInfo("e.scalar").Shape);
    }

    [Fact]
    public void Bf16_rounds_to_nearest_even_like_torch()
    {
        // 1 + 2^-8 lies exactly between two bf16 values (1 and 1 + 2^-7): ties go to the even mantissa (1).
        Assert.Equal(1.0f, BFloat16.ToSingle(BFloat16.FromSingle(1f + 1f / 256)));
        // 1 + 3 * 2^-8 is a tie between 1 + 2^-7 and 1 + 2^-6: the even one is 1 + 2^-6.
        Assert.Equal(1f + 1f / 64, BFloat16.ToSingle(BFloat16.FromSingle(1f + 3f / 256)));
        // Just above the tie rounds up.
        Assert.Equal(1f + 1f / 128, BFloat16.ToSingle(BFloat16.FromSingle(BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(1f + 1f / 256) + 1))));
    }

    public static TheoryData<string, string> CorruptFiles => new()
    {
        { "short", "truncated" },
        { "header-beyond-file", "runs beyond the end of the file" },
        { "not-json", "not valid JSON" },
        { "offsets-outside", "outside the data section" },
        { "unknown-dtype", "unknown dtype 'Q4'" },
        { "size-mismatch", "needs 24 bytes but its data offsets span 16" },
        { "bad-shape", "invalid shape" },
        { "missing-fields", "needs dtype, shape and data_offsets" },
    };

    [Theory]
    [MemberData(nameof(CorruptFiles))]
    public void Corrupt_files_raise_CheckpointException_naming_file_and_problem(string kind, string expected)
    {
        using var dir = new TempDir();
        string path = dir.File(kind + ".safetensors");
        File.WriteAllBytes(path, kind switch
        {
            "short" => [1, 2, 3],
            "header-beyond-file" => WithHeader("{}", declaredLength: 4096),
            "not-json" => WithHeader("{\"a\": [1, 2"),
            "offsets-outside" => WithHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", dataBytes: 8),
            "unknown-dtype" => WithHeader("{\"a\":{\"dtype\":\"Q4\",\"shape\":[4],\"data_offsets\":[0,16]}}", dataBytes: 16),
            "size-mismatch" => WithHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", dataBytes: 16),
            "bad-shape" => WithHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}"),
            "missing-fields" => WithHeader("{\"a\":{\"dtype\":\"F32\"}}"),
            _ => throw new ArgumentException(kind),
        });
        var e = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path));
        Assert.Equal(path, e.FilePath);
        Assert.Contains(expected, e.Message);
        Assert.StartsWith(path, e.Message);
    }

    [Fact]
    public void Truncated_copy_of_the_fixture_is_refused()
    {
        using var dir = new TempDir();
        string path = dir.File("cut.safetensors");
        using (var source = File.OpenRead(TinyWeights))
        using (var target = File.Create(path))
        {
            var buffer = new byte[1 << 20];
            source.ReadExactly(buffer);
            target.Write(buffer);
        }
        var e = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path));
        Assert.Contains("outside the data section", e.Problem);
    }

    [Fact]
    public void Missing_file_and_missing_tensor_are_CheckpointExceptions()
    {
        Assert.Contains("file not found", Assert.Throws<CheckpointException>(() => SafetensorsFile.Open("/nonexistent/model.safetensors")).Message);
        using var file = SafetensorsFile.Open(TinyWeights);
        Assert.Contains("no tensor named 'nope'", Assert.Throws<CheckpointException>(() => file.GetInfo("nope")).Message);
    }

    private static byte[] WithHeader(string json, long? declaredLength = null, int dataBytes = 0)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(declaredLength ?? header.Length));
        header.CopyTo(bytes, 8);
        return bytes;
    }
}

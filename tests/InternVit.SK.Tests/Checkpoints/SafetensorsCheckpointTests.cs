using System.Text.Json;
using InternVit.SK.Checkpoints;

namespace InternVit.SK.Tests.Checkpoints;

public class SafetensorsCheckpointTests
{
    /// <summary>Splits the fixture into two shards plus an index, the way sharded HF checkpoints are laid out.</summary>
    private static void WriteShardedCopy(string directory, bool writeSecondShard = true, string? extraIndexEntry = null)
    {
        using var source = SafetensorsFile.Open(Path.Combine(TestPaths.TinyCheckpoint, "model.safetensors"));
        var vision = source.Tensors.Where(t => !t.Name.StartsWith("language_model.", StringComparison.Ordinal)).ToList();
        var llm = source.Tensors.Where(t => t.Name.StartsWith("language_model.", StringComparison.Ordinal)).ToList();
        SafetensorsEntry Copy(SafetensorsTensorInfo t) => SafetensorsEntry.FromBytes(t.Name, t.Dtype, t.Shape, source.GetBytes(t.Name).ToArray());
        SafetensorsWriter.Write(Path.Combine(directory, "model-00001-of-00002.safetensors"), vision.Select(Copy).ToList());
        if (writeSecondShard)
            SafetensorsWriter.Write(Path.Combine(directory, "model-00002-of-00002.safetensors"), llm.Select(Copy).ToList());
        var map = new Dictionary<string, string>();
        foreach (var t in vision) map[t.Name] = "model-00001-of-00002.safetensors";
        foreach (var t in llm) map[t.Name] = "model-00002-of-00002.safetensors";
        if (extraIndexEntry is not null) map[extraIndexEntry] = "model-00001-of-00002.safetensors";
        File.WriteAllText(Path.Combine(directory, "model.safetensors.index.json"),
            JsonSerializer.Serialize(new { metadata = new { total_size = 0 }, weight_map = map }));
    }

    [Fact]
    public void Sharded_checkpoint_reads_the_same_tensors_as_the_single_file()
    {
        using var dir = new TempDir();
        WriteShardedCopy(dir.Path);
        using var single = SafetensorsCheckpoint.Open(TestPaths.TinyCheckpoint);
        using var sharded = SafetensorsCheckpoint.Open(dir.Path);
        Assert.Equal(2, sharded.Files.Count);
        Assert.Equal(single.Tensors.Select(t => t.Name).Order(), sharded.Tensors.Select(t => t.Name).Order());
        foreach (string name in new[] { "mlp1.3.weight", "language_model.model.norm.weight", "vision_model.encoder.layers.0.ls1" })
        {
            Assert.Equal(single.GetInfo(name).Shape, sharded.GetInfo(name).Shape);
            Assert.Equal(single.ReadFloat32(name), sharded.ReadFloat32(name));
        }
        Assert.EndsWith("model-00002-of-00002.safetensors", sharded.FileOf("language_model.lm_head.weight").Path);
    }

    [Fact]
    public void Missing_shard_is_named()
    {
        using var dir = new TempDir();
        WriteShardedCopy(dir.Path, writeSecondShard: false);
        var e = Assert.Throws<CheckpointException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.EndsWith("model-00002-of-00002.safetensors", e.FilePath);
        Assert.Contains("missing shard", e.Problem);
    }

    [Fact]
    public void Index_entry_without_tensor_is_refused()
    {
        using var dir = new TempDir();
        WriteShardedCopy(dir.Path, extraIndexEntry: "vision_model.ghost.weight");
        var e = Assert.Throws<CheckpointException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.Contains("'vision_model.ghost.weight'", e.Problem);
    }

    [Fact]
    public void Folder_without_weights_is_refused()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<CheckpointException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.Contains("no weights", e.Problem);
    }
}

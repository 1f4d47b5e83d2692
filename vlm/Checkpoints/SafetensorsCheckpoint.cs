using System.Text.Json;

namespace InternVit.SK.Checkpoints;

/// <summary>
/// All weights of a checkpoint folder: <c>model.safetensors</c>, or the shards listed in
/// <c>model.safetensors.index.json</c>. Headers are read and validated at open; data is read per tensor on demand.
/// </summary>
internal sealed class SafetensorsCheckpoint : IDisposable
{
    /// <summary>The single-file name.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>The shard index name.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, SafetensorsFile> _owner;

    private SafetensorsCheckpoint(string directory, List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> owner)
    {
        Directory = directory;
        _files = files;
        _owner = owner;
    }

    /// <summary>The folder.</summary>
    public string Directory { get; }

    /// <summary>The opened files (one, or one per shard).</summary>
    public IReadOnlyList<SafetensorsFile> Files => _files;

    /// <summary>Every tensor, in file then header order.</summary>
    public IEnumerable<SafetensorsTensorInfo> Tensors
    {
        get
        {
            foreach (var f in _files)
                foreach (var t in f.Tensors)
                    yield return t;
        }
    }

    /// <summary>Opens the weights of <paramref name="directory"/>.</summary>
    /// <exception cref="CheckpointException">No weights, a missing or corrupt shard, or an index that names absent tensors.</exception>
    public static SafetensorsCheckpoint Open(string directory)
    {
        string index = Path.Combine(directory, IndexFileName);
        string single = Path.Combine(directory, SingleFileName);
        var files = new List<SafetensorsFile>();
        var owner = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            if (File.Exists(index))
            {
                foreach (var (shard, names) in ReadIndex(index))
                {
                    string shardPath = Path.Combine(directory, shard);
                    if (!File.Exists(shardPath))
                        throw new CheckpointException(shardPath, $"missing shard: {IndexFileName} lists it for {names.Count} tensors (e.g. '{names[0]}')");
                    var file = SafetensorsFile.Open(shardPath);
                    files.Add(file);
                    foreach (string name in names)
                    {
                        if (!file.Contains(name))
                            throw new CheckpointException(shardPath, $"{IndexFileName} places tensor '{name}' in this shard, but it is not there");
                        owner[name] = file;
                    }
                }
            }
            else if (File.Exists(single))
            {
                var file = SafetensorsFile.Open(single);
                files.Add(file);
                foreach (var t in file.Tensors) owner[t.Name] = file;
            }
            else
            {
                throw new CheckpointException(directory, $"no weights: neither {SingleFileName} nor {IndexFileName} is in this folder");
            }
            return new SafetensorsCheckpoint(directory, files, owner);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    /// <summary>Whether the checkpoint has <paramref name="name"/>.</summary>
    public bool Contains(string name) => _owner.ContainsKey(name);

    /// <summary>The file that holds <paramref name="name"/>.</summary>
    /// <exception cref="CheckpointException">No such tensor.</exception>
    public SafetensorsFile FileOf(string name) =>
        _owner.TryGetValue(name, out var file) ? file : throw new CheckpointException(Directory, $"the checkpoint has no tensor '{name}'");

    /// <summary>The header entry of <paramref name="name"/>.</summary>
    public SafetensorsTensorInfo GetInfo(string name) => FileOf(name).GetInfo(name);

    /// <summary>Reads <paramref name="name"/> as float32.</summary>
    public float[] ReadFloat32(string name) => FileOf(name).ReadFloat32(name);

    /// <summary>Reads <paramref name="name"/> as float32 into <paramref name="destination"/>.</summary>
    public void ReadFloat32(string name, Span<float> destination) => FileOf(name).ReadFloat32(name, destination);

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }

    /// <summary>Shard file → tensor names, in order of first appearance.</summary>
    private static List<(string Shard, List<string> Names)> ReadIndex(string index)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(index));
            if (!document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new CheckpointException(index, "has no weight_map object");
            var shards = new List<(string, List<string>)>();
            var byShard = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                string shard = entry.Value.GetString() ?? throw new CheckpointException(index, $"weight_map entry '{entry.Name}' is not a file name");
                if (shard.Contains('/') || shard.Contains('\\') || shard == "..")
                    throw new CheckpointException(index, $"weight_map entry '{entry.Name}' points outside the folder ('{shard}')");
                if (!byShard.TryGetValue(shard, out var names))
                {
                    names = [];
                    byShard[shard] = names;
                    shards.Add((shard, names));
                }
                names.Add(entry.Name);
            }
            return shards;
        }
        catch (JsonException e)
        {
            throw new CheckpointException(index, $"not valid JSON ({e.Message})", e);
        }
        catch (InvalidOperationException e)
        {
            throw new CheckpointException(index, $"weight_map values must be file names ({e.Message})", e);
        }
    }
}

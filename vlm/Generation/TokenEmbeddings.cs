using InternVit.SK.Checkpoints;

namespace InternVit.SK.Generation;

/// <summary>
/// The token-embedding table of a converted model, memory-mapped in the checkpoint's dtype and widened to float32
/// row by row on lookup (exact for BF16 and F16), so the 0.1–1 GB table is never copied as a whole.
/// </summary>
internal sealed class TokenEmbeddings : IDisposable
{
    private readonly SafetensorsFile _file;
    private readonly SafetensorsTensorInfo _info;
    private readonly int _rowBytes;

    private TokenEmbeddings(SafetensorsFile file, SafetensorsTensorInfo info)
    {
        _file = file;
        _info = info;
        VocabSize = checked((int)info.Shape[0]);
        HiddenSize = checked((int)info.Shape[1]);
        _rowBytes = HiddenSize * SafetensorsDtypes.SizeOf(info.Dtype);
    }

    /// <summary>Rows in the table.</summary>
    public int VocabSize { get; }

    /// <summary>Width of a row.</summary>
    public int HiddenSize { get; }

    /// <summary>Opens <paramref name="tensor"/> in the safetensors file <paramref name="path"/>.</summary>
    /// <exception cref="CheckpointException">Missing file or tensor, not 2-D, or not F32/F16/BF16.</exception>
    public static TokenEmbeddings Open(string path, string tensor)
    {
        var file = SafetensorsFile.Open(path);
        try
        {
            if (!file.Contains(tensor)) throw new CheckpointException(path, $"no tensor '{tensor}'");
            var info = file.GetInfo(tensor);
            if (info.Shape.Length != 2) throw new CheckpointException(path, $"'{tensor}' has shape [{string.Join(",", info.Shape)}], not [vocab, hidden]");
            if (info.Dtype is not (SafetensorsDtype.F32 or SafetensorsDtype.F16 or SafetensorsDtype.BF16))
                throw new CheckpointException(path, $"'{tensor}' is {info.Dtype}; embeddings must be F32, F16 or BF16");
            return new TokenEmbeddings(file, info);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Writes the float32 rows of <paramref name="ids"/> into <paramref name="destination"/> ([ids.Length, HiddenSize]).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id outside [0, VocabSize).</exception>
    public void Lookup(ReadOnlySpan<int> ids, Span<float> destination)
    {
        if (destination.Length != ids.Length * HiddenSize)
            throw new ArgumentException($"{ids.Length} ids need {ids.Length * HiddenSize} floats, the destination holds {destination.Length}", nameof(destination));
        var table = _file.GetBytes(_info.Name);
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if ((uint)id >= (uint)VocabSize)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"token id {id} at position {i} is outside the vocabulary [0, {VocabSize})");
            SafetensorsFile.TryWidenToFloat32(table.Slice(checked(id * _rowBytes), _rowBytes), _info.Dtype, destination.Slice(i * HiddenSize, HiddenSize));
        }
    }

    /// <inheritdoc />
    public void Dispose() => _file.Dispose();
}

namespace InternVit.SK.Onnx;

/// <summary>Tensor element types (<c>ONNXTensorElementDataType</c>; the same numbers as ONNX's <c>TensorProto.DataType</c>).</summary>
public enum OrtElementType
{
    /// <summary>Not a tensor type.</summary>
    Undefined = 0,
    /// <summary>float32.</summary>
    Float = 1,
    /// <summary>uint8.</summary>
    UInt8 = 2,
    /// <summary>int8.</summary>
    Int8 = 3,
    /// <summary>uint16.</summary>
    UInt16 = 4,
    /// <summary>int16.</summary>
    Int16 = 5,
    /// <summary>int32.</summary>
    Int32 = 6,
    /// <summary>int64.</summary>
    Int64 = 7,
    /// <summary>string.</summary>
    String = 8,
    /// <summary>bool (one byte).</summary>
    Bool = 9,
    /// <summary>IEEE float16.</summary>
    Float16 = 10,
    /// <summary>float64.</summary>
    Double = 11,
    /// <summary>uint32.</summary>
    UInt32 = 12,
    /// <summary>uint64.</summary>
    UInt64 = 13,
    /// <summary>bfloat16.</summary>
    BFloat16 = 16,
}

/// <summary>Name, element type and shape of a model input or output.</summary>
/// <param name="Name">The graph's name for it.</param>
/// <param name="ElementType">Element type.</param>
/// <param name="Dimensions">Dimensions; -1 where the model leaves a dimension free.</param>
/// <param name="SymbolicDimensions">The symbolic name of each dimension ("" where it has none), e.g. <c>batch</c>.</param>
public sealed record OrtTensorInfo(string Name, OrtElementType ElementType, long[] Dimensions, string[] SymbolicDimensions)
{
    /// <inheritdoc />
    public override string ToString()
    {
        var dims = new string[Dimensions.Length];
        for (int i = 0; i < dims.Length; i++)
            dims[i] = Dimensions[i] >= 0 ? Dimensions[i].ToString() : (SymbolicDimensions[i].Length > 0 ? SymbolicDimensions[i] : "?");
        return $"{Name}: {ElementType}[{string.Join(",", dims)}]";
    }
}

internal static class OrtElementTypes
{
    public static OrtElementType Of<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return OrtElementType.Float;
        if (typeof(T) == typeof(Half)) return OrtElementType.Float16;
        if (typeof(T) == typeof(long)) return OrtElementType.Int64;
        if (typeof(T) == typeof(int)) return OrtElementType.Int32;
        if (typeof(T) == typeof(bool)) return OrtElementType.Bool;
        if (typeof(T) == typeof(byte)) return OrtElementType.UInt8;
        if (typeof(T) == typeof(sbyte)) return OrtElementType.Int8;
        if (typeof(T) == typeof(double)) return OrtElementType.Double;
        if (typeof(T) == typeof(short)) return OrtElementType.Int16;
        if (typeof(T) == typeof(ushort)) return OrtElementType.UInt16;
        if (typeof(T) == typeof(uint)) return OrtElementType.UInt32;
        if (typeof(T) == typeof(ulong)) return OrtElementType.UInt64;
        throw new NotSupportedException($"{typeof(T).Name} has no ONNX tensor element type");
    }

    public static int SizeOf(OrtElementType type) => type switch
    {
        OrtElementType.Float or OrtElementType.Int32 or OrtElementType.UInt32 => 4,
        OrtElementType.Int64 or OrtElementType.UInt64 or OrtElementType.Double => 8,
        OrtElementType.Float16 or OrtElementType.BFloat16 or OrtElementType.Int16 or OrtElementType.UInt16 => 2,
        OrtElementType.UInt8 or OrtElementType.Int8 or OrtElementType.Bool => 1,
        _ => throw new NotSupportedException($"{type} tensors are not supported"),
    };
}

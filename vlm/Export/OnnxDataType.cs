namespace InternVit.SK.Export;

/// <summary>ONNX tensor element types, as the converter writes them (the numbers of ONNX's <c>TensorProto.DataType</c>).</summary>
internal enum OnnxDataType
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

internal static class OnnxDataTypes
{
    public static OnnxDataType Of<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return OnnxDataType.Float;
        if (typeof(T) == typeof(Half)) return OnnxDataType.Float16;
        if (typeof(T) == typeof(long)) return OnnxDataType.Int64;
        if (typeof(T) == typeof(int)) return OnnxDataType.Int32;
        if (typeof(T) == typeof(bool)) return OnnxDataType.Bool;
        if (typeof(T) == typeof(byte)) return OnnxDataType.UInt8;
        if (typeof(T) == typeof(sbyte)) return OnnxDataType.Int8;
        if (typeof(T) == typeof(double)) return OnnxDataType.Double;
        if (typeof(T) == typeof(short)) return OnnxDataType.Int16;
        if (typeof(T) == typeof(ushort)) return OnnxDataType.UInt16;
        if (typeof(T) == typeof(uint)) return OnnxDataType.UInt32;
        if (typeof(T) == typeof(ulong)) return OnnxDataType.UInt64;
        throw new NotSupportedException($"{typeof(T).Name} has no ONNX tensor element type");
    }

    public static int SizeOf(OnnxDataType type) => type switch
    {
        OnnxDataType.Float or OnnxDataType.Int32 or OnnxDataType.UInt32 => 4,
        OnnxDataType.Int64 or OnnxDataType.UInt64 or OnnxDataType.Double => 8,
        OnnxDataType.Float16 or OnnxDataType.BFloat16 or OnnxDataType.Int16 or OnnxDataType.UInt16 => 2,
        OnnxDataType.UInt8 or OnnxDataType.Int8 or OnnxDataType.Bool => 1,
        _ => throw new NotSupportedException($"{type} tensors are not supported"),
    };
}

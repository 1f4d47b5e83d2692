namespace InternVit.SK.Checkpoints;

/// <summary>Element types of the safetensors format (the header's <c>dtype</c> strings).</summary>
public enum SafetensorsDtype
{
    /// <summary>IEEE float32.</summary>
    F32,
    /// <summary>IEEE float16.</summary>
    F16,
    /// <summary>bfloat16 (the upper half of a float32).</summary>
    BF16,
    /// <summary>IEEE float64.</summary>
    F64,
    /// <summary>Signed 64-bit integer.</summary>
    I64,
    /// <summary>Signed 32-bit integer.</summary>
    I32,
    /// <summary>Signed 16-bit integer.</summary>
    I16,
    /// <summary>Signed 8-bit integer.</summary>
    I8,
    /// <summary>Unsigned 8-bit integer.</summary>
    U8,
    /// <summary>Boolean, one byte each.</summary>
    BOOL,
}

internal static class SafetensorsDtypes
{
    public static int SizeOf(SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.F64 or SafetensorsDtype.I64 => 8,
        SafetensorsDtype.F32 or SafetensorsDtype.I32 => 4,
        SafetensorsDtype.F16 or SafetensorsDtype.BF16 or SafetensorsDtype.I16 => 2,
        _ => 1,
    };

    public static bool TryParse(string text, out SafetensorsDtype dtype)
    {
        // Exact, case-sensitive names as the format defines them.
        switch (text)
        {
            case "F32": dtype = SafetensorsDtype.F32; return true;
            case "F16": dtype = SafetensorsDtype.F16; return true;
            case "BF16": dtype = SafetensorsDtype.BF16; return true;
            case "F64": dtype = SafetensorsDtype.F64; return true;
            case "I64": dtype = SafetensorsDtype.I64; return true;
            case "I32": dtype = SafetensorsDtype.I32; return true;
            case "I16": dtype = SafetensorsDtype.I16; return true;
            case "I8": dtype = SafetensorsDtype.I8; return true;
            case "U8": dtype = SafetensorsDtype.U8; return true;
            case "BOOL": dtype = SafetensorsDtype.BOOL; return true;
            default: dtype = default; return false;
        }
    }

    public static string Name(SafetensorsDtype dtype) => dtype.ToString();
}

using Microsoft.ML.OnnxRuntime;

namespace InternVit.SK.Onnx;

/// <summary>ONNX Runtime's error codes (<c>OrtErrorCode</c>).</summary>
public enum OrtErrorCode
{
    /// <summary>Success.</summary>
    Ok = 0,
    /// <summary>Generic failure.</summary>
    Fail = 1,
    /// <summary>An argument was invalid (name, shape, type, option).</summary>
    InvalidArgument = 2,
    /// <summary>A file does not exist.</summary>
    NoSuchFile = 3,
    /// <summary>Legacy.</summary>
    NoModel = 4,
    /// <summary>Engine error.</summary>
    EngineError = 5,
    /// <summary>An exception inside the runtime.</summary>
    RuntimeException = 6,
    /// <summary>The model file is not a valid ONNX protobuf.</summary>
    InvalidProtobuf = 7,
    /// <summary>The model is already loaded.</summary>
    ModelLoaded = 8,
    /// <summary>Not implemented (e.g. an unsupported op or type).</summary>
    NotImplemented = 9,
    /// <summary>The graph is invalid.</summary>
    InvalidGraph = 10,
    /// <summary>An execution provider failed.</summary>
    EpFail = 11,
    /// <summary>Model load was cancelled.</summary>
    ModelLoadCanceled = 12,
    /// <summary>The model must be compiled first.</summary>
    ModelRequiresCompilation = 13,
    /// <summary>Not found.</summary>
    NotFound = 14,
}

/// <summary>
/// An error reported by ONNX Runtime, carrying its code and message: every ORT failure the engine meets (loading a
/// graph, running it, creating a tensor) reaches callers as this one type, with ORT's own exception inside.
/// </summary>
public sealed class OrtException : Exception
{
    private const string CodePrefix = "[ErrorCode:";

    internal OrtException(OrtErrorCode code, string message, Exception? inner = null)
        : base($"[ONNX Runtime {code}] {message}", inner)
    {
        Code = code;
        NativeMessage = message;
    }

    /// <summary>
    /// Translates Microsoft.ML.OnnxRuntime's exception, whose message starts with <c>[ErrorCode:Name]</c> (its code
    /// enum is not public), into this type.
    /// </summary>
    internal static OrtException From(OnnxRuntimeException e)
    {
        string message = e.Message;
        var code = OrtErrorCode.Fail;
        if (message.StartsWith(CodePrefix, StringComparison.Ordinal) && message.IndexOf(']') is int end and > 0)
        {
            if (Enum.TryParse(message.AsSpan(CodePrefix.Length, end - CodePrefix.Length), out OrtErrorCode parsed)) code = parsed;
            message = message[(end + 1)..].TrimStart();
        }
        return new OrtException(code, message, e);
    }

    /// <summary>ONNX Runtime's error code.</summary>
    public OrtErrorCode Code { get; }

    /// <summary>ONNX Runtime's own message.</summary>
    public string NativeMessage { get; }
}

/// <summary>The ONNX Runtime native library could not be loaded; the message says which package deploys it.</summary>
public sealed class OrtLibraryNotFoundException : Exception
{
    internal OrtLibraryNotFoundException(string message, Exception? inner = null) : base(message, inner) { }
}

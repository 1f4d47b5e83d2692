using System.Runtime.InteropServices;

namespace InternVit.SK.Onnx.Native;

/// <summary>The one funnel for <c>OrtStatus*</c>: success passes, failure becomes <see cref="OrtException"/>.</summary>
internal static unsafe class OrtStatus
{
    /// <summary>Throws <see cref="OrtException"/> with ORT's code and message when <paramref name="status"/> is an error; always releases it.</summary>
    public static void ThrowIfFailed(OrtStatusPtr status)
    {
        if (status.Value == 0) return;
        var api = OrtLibrary.Api;
        OrtErrorCode code;
        string message;
        try
        {
            code = api.GetErrorCode(status.Value);
            message = Marshal.PtrToStringUTF8((nint)api.GetErrorMessage(status.Value)) ?? "(no message)";
        }
        finally
        {
            api.ReleaseStatus(status.Value);
        }
        throw new OrtException(code, message);
    }
}

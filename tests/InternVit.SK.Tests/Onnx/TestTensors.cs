using Microsoft.ML.OnnxRuntime;

namespace InternVit.SK.Tests.Onnx;

/// <summary>Tensors over test arrays (no copy) and their elements back, through Microsoft.ML.OnnxRuntime's OrtValue.</summary>
internal static class TestTensors
{
    public static OrtValue Of<T>(T[] data, params long[] shape) where T : unmanaged => OrtValue.CreateTensorValueFromMemory(data, shape);

    public static T[] ToArray<T>(this OrtValue value) where T : unmanaged => value.GetTensorDataAsSpan<T>().ToArray();
}

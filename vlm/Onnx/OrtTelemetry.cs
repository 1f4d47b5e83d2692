using System.Runtime.InteropServices;

namespace InternVit.SK.Onnx;

/// <summary>
/// ONNX Runtime's telemetry, off unless <see cref="OrtEnvironmentOptions.DisableTelemetry"/> is false. ORT's Linux telemetry
/// (measured on 1.30; 1.32 reads the same variable) reads
/// <c>/proc/self/cmdline</c> when its environment is created and scans it with a <c>std::regex</c> that recurses once
/// per character or so (~90 bytes of stack each): a command line of about 29,000 characters (a long question) overflows
/// the 8 MiB stack of the thread that loads the model, and the process dies with "Internal CLR error (0x80131506)". With
/// <c>ORT_DISABLE_TELEMETRY</c> set, ORT neither scans the command line nor records or uploads anything. A value the
/// user set is kept.
/// </summary>
internal static class OrtTelemetry
{
    private const string Variable = "ORT_DISABLE_TELEMETRY";

    /// <summary>Sets the variable in the process's native environment (where ORT reads it), before the ORT environment is created.</summary>
    public static void DisableForThisProcess()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(Variable) is not null) return;
        // Environment.SetEnvironmentVariable changes only .NET's copy on Unix; native code reads libc's.
        try
        {
            SetEnv(Variable, "1", 0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    [DllImport("libc", EntryPoint = "setenv", CharSet = CharSet.Ansi, ExactSpelling = true)]
    private static extern int SetEnv(string name, string value, int overwrite);
}

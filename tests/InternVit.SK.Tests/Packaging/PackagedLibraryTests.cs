using System.Diagnostics;
using InternVit.SK.Tests.Generation;
using Xunit.Abstractions;

namespace InternVit.SK.Tests.Packaging;

/// <summary>
/// The NuGet packages as a user gets them: the engine and the plugin are packed into a local folder feed, and a new
/// console app in a temporary folder — outside this repository, so none of its build files apply — references them and
/// Microsoft.ML.OnnxRuntime (the CPU natives, the application's choice) and nothing else. It converts the tiny
/// checkpoint, answers the golden one-image prompt through the public API, and must give the golden greedy tokens:
/// no setup script, no npm, no apt.
/// </summary>
public sealed class PackagedLibraryTests(ITestOutputHelper output)
{
    private const string OnnxRuntimeVersion = "1.32.0";

    [Fact]
    public void A_console_app_on_the_packed_packages_reproduces_the_golden_greedy_tokens()
    {
        var (question, _, expected, golden) = GenerationGoldenTests.Case("one_image");
        string[] images = golden["images"]!.AsArray()
            .Select(id => Directory.GetFiles(Path.Combine(TestPaths.Fixtures, "images"), (string)id! + ".*").Single()).ToArray();
        // A version of its own, so the global packages folder never serves a package packed by an earlier run.
        string version = $"0.0.0-pack{DateTime.UtcNow:yyyyMMddHHmmss}{Environment.ProcessId}";
        using var dir = new TempDir();
        string feed = Directory.CreateDirectory(dir.File("feed")).FullName;
        string app = Directory.CreateDirectory(dir.File("app")).FullName;
        try
        {
            // The test runs after the Release build, so packing needs no build of its own.
            foreach (string project in new[] { "vlm/InternVit.SK.Vlm.csproj", "plugin/InternVit.SK.Plugin.csproj" })
                Dotnet(TestPaths.RepositoryRoot, "pack", Path.Combine(TestPaths.RepositoryRoot, project), "-c", "Release", "--no-build",
                    "-p:PackageVersion=" + version, "-p:IncludeSymbols=false", "-o", feed);
            Assert.True(File.Exists(Path.Combine(feed, $"InternVit.SK.{version}.nupkg")));
            Assert.True(File.Exists(Path.Combine(feed, $"InternVit.SK.Plugin.{version}.nupkg")));

            File.WriteAllText(Path.Combine(app, "NuGet.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="packed" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            File.WriteAllText(Path.Combine(app, "app.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                    <RuntimeIdentifier>linux-x64</RuntimeIdentifier>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="InternVit.SK.Plugin" Version="{version}" />
                    <PackageReference Include="Microsoft.ML.OnnxRuntime" Version="{OnnxRuntimeVersion}" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(app, "Program.cs"), """
                using InternVit.SK.Generation;
                // args: checkpoint, cache folder, question, image files...
                using var model = await InternVLModel.LoadAsync(args[0], new InternVLModelOptions { CacheDirectory = args[1] });
                var images = args[3..].Select(path => ImageInput.FromFile(path)).ToArray();
                var answer = await model.StartConversation().GenerateAsync(args[2], images, new GenerationOptions { MaxNewTokens = 24 });
                Console.WriteLine("tokens: " + string.Join(",", answer.TokenIds));
                """);
            Dotnet(app, "build", "-c", "Release", "-nologo", "-v:quiet");
            string dll = Path.Combine(app, "bin", "Release", "net10.0", "linux-x64", "app.dll");
            string stdout = Dotnet(app, [dll, TestPaths.TinyCheckpoint, dir.File("cache"), question, .. images]);

            string line = stdout.Split('\n').Single(l => l.StartsWith("tokens: ", StringComparison.Ordinal));
            Assert.Equal(expected, line["tokens: ".Length..].Trim().Split(',').Select(int.Parse));
            // Only the packed packages and ONNX Runtime's were restored: no project of this repository is referenced.
            string assets = File.ReadAllText(Path.Combine(app, "obj", "project.assets.json"));
            Assert.DoesNotContain(TestPaths.RepositoryRoot, assets);
        }
        finally
        {
            // The packed versions are unique to this run: take them out of the global packages folder again.
            string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            foreach (string id in new[] { "internvit.sk", "internvit.sk.plugin" })
            {
                string folder = Path.Combine(packages, id, version);
                if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            }
        }
    }

    /// <summary>Runs <c>dotnet</c> with <paramref name="args"/> in <paramref name="folder"/>; returns standard output, fails on a non-zero exit.</summary>
    private string Dotnet(string folder, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) start.ArgumentList.Add(a);
        // The test host's MSBuild settings must not leak into the child builds.
        foreach (string variable in new[] { "MSBuildExtensionsPath", "MSBUILD_EXE_PATH", "MSBuildSDKsPath", "DOTNET_HOST_PATH" })
            start.Environment.Remove(variable);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet {string.Join(' ', args)} did not finish in 5 minutes");
        }
        output.WriteLine($"dotnet {string.Join(' ', args)} → {process.ExitCode}\n{stdout}\n{stderr.Result}");
        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', args)} exited {process.ExitCode}:\n{stdout}\n{stderr.Result}");
        return stdout;
    }
}

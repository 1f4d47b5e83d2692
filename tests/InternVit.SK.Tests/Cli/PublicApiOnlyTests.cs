using System.Reflection;
using System.Runtime.CompilerServices;

namespace InternVit.SK.Tests.Cli;

/// <summary>
/// The <c>internvl</c> command is built on the libraries' public API only: the engine, the plugin and the hosting
/// library show their internals to the tests alone (and the plugin to the hosting library, which ships with it).
/// </summary>
public sealed class PublicApiOnlyTests
{
    [Theory]
    [InlineData(typeof(InternVit.SK.Generation.InternVLModel), new[] { "InternVit.SK.Tests" })]
    [InlineData(typeof(InternVit.SK.Hosting.InternVLServer), new[] { "InternVit.SK.Tests" })]
    [InlineData(typeof(InternVit.SK.Plugin.VisionTools), new[] { "InternVit.SK.Hosting", "InternVit.SK.Tests" })]
    public void Internals_are_visible_only_to_the_tests(Type typeInAssembly, string[] friends)
    {
        var granted = typeInAssembly.Assembly.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName).Order(StringComparer.Ordinal);
        Assert.Equal(friends, granted);
        Assert.DoesNotContain("internvl", granted);
    }
}

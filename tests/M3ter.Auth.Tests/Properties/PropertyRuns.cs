using System;
using CsCheck;
using Xunit.Abstractions;

namespace M3ter.Auth.Tests.Properties;

/// <summary>
/// How many cases each property runs, and where its summary goes. A run is seeded at random; a failure prints the seed
/// that reproduces it (CsCheck: "Set seed: ..."), which then becomes a regular test beside the property. To replay one,
/// set CsCheck_Seed to it; to run longer, set CsCheck_Iter or CsCheck_Time (seconds).
/// </summary>
internal static class PropertyRuns
{
    /// <summary>For cheap pure functions.</summary>
    public const int Many = 10_000;

    /// <summary>For properties that build a container or send a request per case.</summary>
    public const int Some = 1_000;

    public static void Run<T>(this Gen<T> gen, Action<T> property, ITestOutputHelper output, long iterations, Func<T, string>? print = null) =>
        gen.Sample(property, writeLine: output.WriteLine, iter: iterations, print: print);
}

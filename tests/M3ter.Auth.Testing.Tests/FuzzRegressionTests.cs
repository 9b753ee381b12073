using System.Collections.Generic;
using System.IO;
using System.Linq;
using M3ter.Auth.Fuzz;

namespace M3ter.Auth.Testing.Tests;

/// <summary>The fuzzer's seed corpus and every input it found (tests/Fuzz/regressions), through the same target.</summary>
public sealed class FuzzRegressionTests
{
    public static IEnumerable<object[]> Inputs() => FuzzInputs.Of("ingest-body");

    [Theory]
    [MemberData(nameof(Inputs))]
    public void IngestBody_NeverThrows(string file) => EmulatorTargets.IngestBody(File.ReadAllBytes(file));
}

/// <summary>The files of tests/Fuzz/corpus/TARGET and tests/Fuzz/regressions/TARGET.</summary>
internal static class FuzzInputs
{
    public static IEnumerable<object[]> Of(string target)
    {
        string root = System.AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "M3ter.Auth.sln")))
        {
            root = Path.GetDirectoryName(root.TrimEnd(Path.DirectorySeparatorChar))!;
        }

        return new[] { "corpus", "regressions" }
            .Select(kind => Path.Combine(root, "tests", "Fuzz", kind, target))
            .SelectMany(Directory.EnumerateFiles)
            .Where(file => !file.EndsWith(".md", System.StringComparison.Ordinal))
            .OrderBy(file => file, System.StringComparer.Ordinal)
            .Select(file => new object[] { file });
    }
}

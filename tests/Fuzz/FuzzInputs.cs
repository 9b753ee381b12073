using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace M3ter.Auth.Fuzz;

/// <summary>
/// The inputs a fuzz target replays in the unit tests: the files of tests/Fuzz/corpus/TARGET and
/// tests/Fuzz/regressions/TARGET (every finding), as paths relative to the repository root. Linked into the test
/// projects that replay them.
/// </summary>
internal static class FuzzInputs
{
    /// <summary>The folder that holds M3ter.Auth.sln.</summary>
    public static readonly string Root = FindRoot();

    public static IEnumerable<object[]> Of(string target) =>
        new[] { "corpus", "regressions" }
            .Select(kind => Path.Combine(Root, "tests", "Fuzz", kind, target))
            .SelectMany(Directory.EnumerateFiles)
            .Where(file => !file.EndsWith(".md", StringComparison.Ordinal))
            .OrderBy(file => file, StringComparer.Ordinal)
            .Select(file => new object[] { Path.GetRelativePath(Root, file) });

    public static byte[] Read(string relativePath) => File.ReadAllBytes(Path.Combine(Root, relativePath));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "M3ter.Auth.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("M3ter.Auth.sln not found above " + AppContext.BaseDirectory);
    }
}

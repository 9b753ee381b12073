using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;

namespace M3ter.Auth.Tests;

/// <summary>
/// Code in the README and in docs/ must compile and run: each block marked <c>&lt;!-- snippet: name --&gt;</c> must equal
/// the <c>#region snippet:name</c> of a sample or test, which the build compiles and the tests run.
/// </summary>
public sealed partial class ReadmeSnippetTests
{
    private static readonly string Root = RepositoryRoot.Path;

    [GeneratedRegex(@"<!-- snippet: (?<name>[\w-]+) -->\s*```csharp\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex ReadmeSnippet();

    [GeneratedRegex(@"#region snippet:(?<name>[\w-]+)\n(?<code>.*?)\n\s*#endregion", RegexOptions.Singleline)]
    private static partial Regex SourceSnippet();

    [Fact]
    public void EveryReadmeSnippet_MatchesCompiledSourceExactly()
    {
        string readme = string.Join("\n", new[] { Path.Combine(Root, "README.md") }
            .Concat(Directory.EnumerateFiles(Path.Combine(Root, "docs"), "*.md"))
            .Select(f => File.ReadAllText(f).Replace("\r\n", "\n", StringComparison.Ordinal)));
        Dictionary<string, string> sources = Directory.EnumerateFiles(Root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => SourceSnippet().Matches(File.ReadAllText(f).Replace("\r\n", "\n", StringComparison.Ordinal)))
            .ToDictionary(m => m.Groups["name"].Value, m => Normalize(m.Groups["code"].Value));

        MatchCollection snippets = ReadmeSnippet().Matches(readme);

        Assert.True(snippets.Count >= 3, "the README should show its snippets");
        Assert.All(snippets, snippet =>
        {
            string name = snippet.Groups["name"].Value;
            Assert.True(sources.ContainsKey(name), $"README snippet '{name}' has no #region snippet:{name} in the sources");
            Assert.Equal(sources[name], Normalize(snippet.Groups["code"].Value));
        });
    }

    [GeneratedRegex(@"^\|.*\| `(?<class>\w+)\.(?<method>\w+)` \|$", RegexOptions.Multiline)]
    private static partial Regex FailureModeTest();

    [Fact]
    public void EveryTestNamedInFailureModes_Exists()
    {
        string section = File.ReadAllText(Path.Combine(Root, "docs", "failure-modes.md")).Replace("\r\n", "\n", StringComparison.Ordinal);
        string tests = string.Join("\n", Directory.EnumerateFiles(Path.Combine(Root, "tests"), "*.cs", SearchOption.AllDirectories).Select(File.ReadAllText));

        MatchCollection rows = FailureModeTest().Matches(section);

        Assert.True(rows.Count >= 15, $"only {rows.Count} rows name a test");
        Assert.All(rows, row =>
        {
            Assert.Contains("class " + row.Groups["class"].Value, tests, StringComparison.Ordinal);
            Assert.Contains(" " + row.Groups["method"].Value + "(", tests, StringComparison.Ordinal);
        });
    }

    private static string Normalize(string code)
    {
        string[] lines = code.TrimEnd().Split('\n').SkipWhile(string.IsNullOrWhiteSpace).ToArray();
        int indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join("\n", lines.Select(l => l.Length >= indent ? l[indent..].TrimEnd() : l.Trim()));
    }
}

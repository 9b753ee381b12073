using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using M3ter.Auth.Fuzz;

namespace M3ter.Auth.Tests;

/// <summary>The fuzzer's seed corpus and every input it found (tests/Fuzz/regressions), through the same targets.</summary>
public sealed class FuzzRegressionTests
{
    public static IEnumerable<object[]> TokenResponses() => Of("token-response");

    public static IEnumerable<object[]> JwtExpiries() => Of("jwt-exp");

    [Theory]
    [MemberData(nameof(TokenResponses))]
    public void TokenResponse_IsATokenOrAnM3terAuthException(string file) => AuthTargets.TokenResponse(File.ReadAllBytes(Path.Combine(RepositoryRoot.Path, file)));

    [Theory]
    [MemberData(nameof(JwtExpiries))]
    public void JwtExpiry_NeverThrows(string file) => AuthTargets.JwtExpiry(File.ReadAllBytes(Path.Combine(RepositoryRoot.Path, file)));

    private static IEnumerable<object[]> Of(string target) =>
        new[] { "corpus", "regressions" }
            .Select(kind => Path.Combine(RepositoryRoot.Path, "tests", "Fuzz", kind, target))
            .SelectMany(Directory.EnumerateFiles)
            .Where(file => !file.EndsWith(".md", StringComparison.Ordinal))
            .OrderBy(file => file, StringComparer.Ordinal)
            .Select(file => new object[] { Path.GetRelativePath(RepositoryRoot.Path, file) });
}
